# Sourced by the bench scripts: field FILE KEY prints a flat number or
# string of summary.json (the first occurrence of KEY at any depth).
field() {
  sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1" | head -1
}
