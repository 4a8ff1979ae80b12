// The signals that ask a descent process to stop: SIGTERM (an orchestrator,
// `kill`), SIGINT (Ctrl-C) and SIGHUP (the terminal went away). Every role
// and the launcher handle all three the same way: gently, at a point of
// their choosing (README: exit codes).
#ifndef DESCENT_ROLES_STOP_SIGNALS_H_
#define DESCENT_ROLES_STOP_SIGNALS_H_

namespace descent {

// Installs `handler` (async-signal-safe) for SIGTERM, SIGINT and SIGHUP.
void OnStopSignals(void (*handler)(int));

}  // namespace descent

#endif  // DESCENT_ROLES_STOP_SIGNALS_H_
