#include "roles/stop_signals.h"

#include <signal.h>

#include <initializer_list>

namespace descent {

void OnStopSignals(void (*handler)(int)) {
  struct sigaction action = {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) {
    sigaction(signal, &action, nullptr);
  }
}

}  // namespace descent
