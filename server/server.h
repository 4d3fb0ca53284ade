// server/server.h — memokeyd's network side: listening, connections, timeouts,
// graceful shutdown. What each request means is handler.h's business.

#ifndef MEMOKEY_SERVER_SERVER_H_
#define MEMOKEY_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "config.h"
#include "memokey/status.h"
#include "memokey/store.h"

namespace memokeyd {

class Server {
 public:
  Server(const Config& config, memokey::Store& store, unsigned threads);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket (config.listen; port 0 picks a free port).
  memokey::Status Listen();
  // The bound address, "127.0.0.1:8080" or "[::1]:8080", after Listen.
  std::string address() const;

  // Serves until SIGINT/SIGTERM (or Shutdown) and the drain that follows;
  // blocks the calling thread, which runs the acceptor and the signals while
  // `threads` worker threads serve the connections.
  void Run();
  // Starts a graceful shutdown, as SIGTERM does. Thread-safe.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_SERVER_H_
