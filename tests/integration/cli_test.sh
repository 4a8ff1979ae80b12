#!/usr/bin/env bash
# The command line itself: help for the binary and for every subcommand
# (exit 0), the version line, and the exit-code table: every subcommand's
# usage errors exit 1, and the table `descent help` prints is the README's.
source "$(dirname "$0")/lib.sh"

# run CODE COMMAND...: runs COMMAND (stdout and stderr to $WORK/out), checks
# its exit code.
run() {
  local want="$1"
  shift
  set +e
  "$@" >"$WORK/out" 2>&1
  local got=$?
  set -e
  [[ "$got" == "$want" ]] || fail "$* exited $got, expected $want: $(cat "$WORK/out")"
}
# has PATTERN: the last command's output matches PATTERN (grep -E).
has() {
  grep -Eq -e "$1" "$WORK/out" || fail "output lacks '$1': $(cat "$WORK/out")"
}
lacks() {
  ! grep -Eq -e "$1" "$WORK/out" || fail "output has '$1': $(cat "$WORK/out")"
}

COMMANDS=(local coordinator server worker predict evaluate export health version)

# Help, four ways, exit 0, listing every command.
for help in --help -h help; do
  run 0 "$DESCENT" $help
  for command in "${COMMANDS[@]}"; do has "^ +$command "; done
  lacks "No flags matched|descent: descent"
done
run 1 "$DESCENT"  # no command: the overview, and a usage error
has "^ +local "
has "no command given"

# The README's list of commands names every one.
list="$(sed -n '/^`descent help` lists the commands/,/exit codes;/p' "$SOURCE_DIR/README.md" | tr '\n' ' ')"
for command in "${COMMANDS[@]}"; do
  [[ "$list" == *"\`$command\`"* ]] || fail "the README's command list lacks $command: $list"
done

# Each subcommand's own help: its flags and an example, exit 0.
declare -A FLAGS=(
  [local]="--config --set --output_dir --overwrite --prometheus_sd_file --metrics_linger"
  [coordinator]="--config --set --output_dir --overwrite --listen --metrics_listen --ready_file --insecure --metrics_linger"
  [server]="--coordinator --shard --listen --advertise_address --metrics_listen --insecure"
  [worker]="--coordinator --metrics_listen"
  [predict]="--model --data --format --labels --output --max_examples"
  [evaluate]="--model --config"
  [export]="--model --format --output"
)
for command in local coordinator server worker predict evaluate export; do
  for way in "help $command" "$command --help" "$command -h"; do
    run 0 "$DESCENT" $way
    has "descent $command"
    for flag in ${FLAGS[$command]}; do has "$flag"; done
    has "Example"
  done
  # A flag of another subcommand is not listed.
  [[ $command == worker ]] && lacks "--shard"
done
run 1 "$DESCENT" help nonsense
has 'unknown command "nonsense"'

# The version line: version, git revision, build type.
for way in version --version; do
  run 0 "$DESCENT" $way
  has "^descent [0-9]+\.[0-9]+\.[0-9]+ \(git [0-9a-f]{7,}|unknown"
  has "Release|RelWithDebInfo|Debug"
  lacks "NDEBUG"
done

# Usage errors exit 1 in every subcommand, naming the flag.
run 1 "$DESCENT" launch
has 'unknown command "launch"'
run 1 "$DESCENT" lcoal
has 'did you mean "local"'
for command in local coordinator server worker predict evaluate export health version; do
  run 1 "$DESCENT" $command --no_such_flag
  has "no_such_flag"
done
run 1 "$DESCENT" --helpfull
run 1 "$DESCENT" local
has "--config"
run 1 "$DESCENT" coordinator
has "--config"
run 1 "$DESCENT" server --coordinator=127.0.0.1:1
has "--shard"
run 1 "$DESCENT" server --coordinator=127.0.0.1:1 --shard=-1
has "--shard"
run 1 "$DESCENT" server --coordinator=127.0.0.1:1 --shard=x
has "--shard"
run 1 "$DESCENT" worker
has "--coordinator"
run 1 "$DESCENT" worker --coordinator=127.0.0.1:1 --set train.epochs=1
run 1 "$DESCENT" local --config "$EXAMPLE" --ready_file "$WORK/r"
run 1 "$DESCENT" coordinator --config "$EXAMPLE" --prometheus_sd_file "$WORK/sd"
# A non-loopback address without --insecure is a flag error, refused before
# anything starts.
run 1 "$DESCENT" server --coordinator=127.0.0.1:1 --shard=0 --listen=0.0.0.0:0
has "--insecure"
run 1 "$DESCENT" coordinator --config "$EXAMPLE" --listen=0.0.0.0:0 \
  --output_dir "$WORK/c"
has "--insecure"
[[ ! -e "$WORK/c" ]] || fail "a refused coordinator created its output directory"
run 1 "$DESCENT" local --config "$EXAMPLE" extra_argument
has "extra_argument"
run 1 "$DESCENT" predict --data "$WORK/x.csv"
has "--model"
run 1 "$DESCENT" predict --model "$WORK/m"
has "--data"
run 1 "$DESCENT" predict --model "$WORK/m" --data "$WORK/x.csv" --format parquet
has "--format"
run 1 "$DESCENT" predict --model "$WORK/m" --data "$WORK/x.bin"
has "--format"
run 1 "$DESCENT" evaluate --model "$WORK/m"
has "--config"
run 1 "$DESCENT" evaluate --config "$EXAMPLE"
has "--model"
run 1 "$DESCENT" export --format onnx
has "--model"
run 1 "$DESCENT" export --model "$WORK/m"
has "--format"
run 1 "$DESCENT" export --model "$WORK/m" --format tflite
has "--format"
# A model directory that is not there: a data error naming it.
run 3 "$DESCENT" predict --model "$WORK/m" --data "$WORK/x.csv"
has "$WORK/m/manifest.json"
run 3 "$DESCENT" export --model "$WORK/m" --format onnx
has "$WORK/m/manifest.json"

# One table of exit codes: `descent help` prints it, and the README's table
# says the same.
run 0 "$DESCENT" help
sed -n '/^Exit codes:/,/^$/p' "$WORK/out" | sed -n 's/^ *\([0-9+ N]*[0-9N]\)  *\(.*\)$/\1|\2/p' \
  >"$WORK/help-codes"
[[ -s "$WORK/help-codes" ]] || fail "descent help prints no exit codes: $(cat "$WORK/out")"
sed -n '/^## Exit codes/,/^## /p' "$SOURCE_DIR/README.md" |
  sed -n 's/^| \([0-9][0-9+ N]*\) | \(.*\) |$/\1|\2/p' | sed 's/`//g' >"$WORK/readme-codes"
diff "$WORK/help-codes" "$WORK/readme-codes" ||
  fail "the README's exit codes differ from descent help's (above)"

echo "cli_test: help, version and exit codes hold for every subcommand"
