// server/server.cc — connections, event loops, timeouts and shutdown.
//
// Read this file top to bottom:
//
//   Session   one client connection: read a request, answer it, repeat.
//   Worker    one thread with its own io_context, the sessions it owns, and a
//             "cron" that enforces their deadlines (like Redis's clientsCron).
//   Impl      the main thread: the listening socket, signals, and shutdown.
//
// Threads. There is one Worker per core (--threads). The main thread accepts
// connections and hands them to the workers round-robin; from then on a
// connection lives on one worker thread, so a session's state is only ever
// touched by one thread and needs no locks. (A single acceptor instead of
// SO_REUSEPORT: the kernel's hash can leave one worker with twice the
// connections of another when there are few; round-robin cannot.)
//
// Timeouts. Each session has one deadline for its current phase — idle
// between requests, reading a header, reading a body, writing, lingering
// before close — and the worker's cron, every ~100 ms, cancels the socket of
// any session past its deadline. One clock read per phase instead of one
// timer per request. A header that is not complete header_timeout after its
// first byte gets 408 and the connection is closed, however slowly its bytes
// trickle in: that is what defeats slowloris.
//
// Store calls are made on the worker thread and may block (Redis, disk): a
// slow store stalls the sessions of that worker only. For Redis, memokeyd
// runs more workers than cores (config.h, EffectiveThreads), and batches
// reads: the GETs that arrive on a worker in one turn of its event loop are
// answered with one Store::GetMany — one Redis round trip (MGET) for all of
// them instead of one each, like Redis clients' automatic pipelining.
//
// Leases. POST .../lease may wait (up to kMaxLeaseWait, handler.h) for
// another client's lease to end. That wait runs on a small shared pool of
// threads (kLeaseThreads), never on a worker: a worker that slept would stall
// all its sessions. The answer is posted back to the session's worker.
//
// Shutdown (SIGTERM/SIGINT): stop accepting; close idle keep-alive
// connections; let requests in progress finish and answer them with
// "Connection: close"; after drain_timeout, stop whatever is left. A second
// signal stops at once.

#include "server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <chrono>
#include <ctime>
#include <list>
#include <optional>
#include <thread>
#include <vector>

#include "handler.h"
#include "log.h"
#include "metrics.h"
#include "request_parser.h"

namespace memokeyd {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// Bytes asked of the kernel per read. Large enough that a typical request
// arrives in one read, small enough that 4096 idle connections cost little.
constexpr std::size_t kReadChunk = 16 * 1024;
// Request/response bodies above this are freed after the response instead of
// being kept for the next request: a connection that once uploaded 64 MiB
// must not hold 64 MiB while idle.
constexpr std::size_t kKeepCapacity = 1 << 20;
// How long a closing connection keeps reading (and discarding) what the
// client still sends, so that our last response is not lost to a TCP reset.
constexpr Clock::duration kLingerTime = std::chrono::seconds(2);

// Threads for lease requests that wait; more concurrent waiters queue.
constexpr int kLeaseThreads = 32;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kBusy =
    "HTTP/1.1 503 Service Unavailable\r\nServer: memokeyd\r\nContent-Length: 20\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    "too many connections";

std::string FormatAddress(const tcp::endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

class Worker;

// --- Session: one client connection -------------------------------------------

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, tcp::socket socket);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() { NextRequest(); }
  // A batched read (Worker::FlushReads) came back: answer it.
  void CompleteRead(const memokey::Status& status, std::optional<std::string>* value);
  // A lease request run on the lease pool (Worker::AcquireLease) came back.
  void CompleteLease(const memokey::Status& status, memokey::LeaseResult* result);
  std::string_view pending_key() const { return pending_key_; }
  // From the worker's cron: cut the connection's current phase if it is late.
  void CheckDeadline(Clock::time_point now);
  // Shutdown: close now if idle; otherwise the response in progress will
  // carry "Connection: close".
  void Drain();

 private:
  enum class Phase : std::uint8_t {
    kIdle,       // keep-alive, waiting for a request's first byte
    kHeader,     // reading a request header
    kBody,       // reading a request body
    kWriting,    // writing a response (or a 100 Continue)
    kLingering,  // response sent, discarding input until the client closes
    kClosed,
  };

  void NextRequest();
  void Read();
  void OnRead(const error_code& ec, std::size_t n);
  void Parse();
  void Dispatch();
  void Finish();
  void Refuse(int status, std::string_view text);
  void Respond();
  void OnWritten(const error_code& ec);
  void WriteContinue();
  void AcknowledgeNow();
  void Linger();
  void Close();
  void SetPhase(Phase phase, Clock::duration timeout);

  Worker& worker_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  Request request_;
  Response response_;
  std::string head_;  // the serialized status line + headers of response_
  Phase phase_ = Phase::kIdle;
  Clock::time_point deadline_{};
  Route route_ = Route::kInvalid;
  Clock::time_point request_done_{};  // when the request was fully read (latency start)
  bool admitted_ = false;
  bool timed_out_ = false;
  std::string_view pending_key_;  // a batched read's store key (view into request_.target)
  Handler::LeasePlan lease_;      // a lease request's plan (views into request_)
  std::list<Session*>::iterator registry_entry_;
};

// --- Worker: one thread, one event loop -----------------------------------------

class Worker {
 public:
  Worker(const Config& cfg, memokey::Store& store, Metrics& all_metrics, unsigned index,
         const ServerInfo& info, const std::atomic<bool>& draining_flag, bool batch,
         asio::thread_pool& lease_pool)
      : config(cfg),
        batch_reads(batch),
        metrics(all_metrics),
        shard(all_metrics.shard(index)),
        handler(cfg, store, all_metrics, all_metrics.shard(index), info),
        draining(draining_flag),
        date(HttpDate()),
        store_(store),
        lease_pool_(lease_pool),
        ioc_(1),  // concurrency hint 1: one thread runs it (asio still locks for posts from others)
        work_(asio::make_work_guard(ioc_)),
        cron_(ioc_) {
    // The cron's period: fine enough that a 100 ms timeout is honored within
    // ~25%, coarse enough to cost nothing.
    const Millis shortest = std::min({cfg.limits.header_timeout, cfg.limits.body_timeout,
                                      cfg.limits.write_timeout, cfg.limits.idle_timeout});
    cron_period_ = std::clamp(shortest / 4, Millis{20}, Millis{250});
  }

  asio::io_context& ioc() { return ioc_; }

  void Start() {
    ScheduleCron();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  // A socket accepted by the main thread for this worker (runs on this thread).
  void Adopt(tcp::socket socket) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (draining.load(std::memory_order_relaxed)) {
      // Accepted just before shutdown began: close it (destructor) and uncount it.
      metrics.open_connections.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    std::make_shared<Session>(*this, std::move(socket))->Start();
  }

  void Drain() {
    // Session::Drain may close a session, which removes it from the list: copy first.
    std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
    for (Session* s : sessions) s->Drain();
  }

  void Stop() {
    work_.reset();
    ioc_.stop();
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  std::list<Session*>::iterator Register(Session* s) {
    return sessions_.insert(sessions_.end(), s);
  }
  void Unregister(std::list<Session*>::iterator it) { sessions_.erase(it); }

  // Queues a session's read for the next FlushReads, which runs once the
  // event loop has dispatched everything that is ready now.
  void EnqueueRead(std::shared_ptr<Session> session) {
    pending_reads_.push_back(std::move(session));
    if (pending_reads_.size() == 1) asio::post(ioc_, [this] { FlushReads(); });
  }

  // Runs the plan's AcquireLease on the lease pool, then answers the session
  // on this worker's thread.
  void AcquireLease(std::shared_ptr<Session> session, const Handler::LeasePlan& plan) {
    asio::post(lease_pool_, [this, session = std::move(session), plan]() mutable {
      auto result = std::make_shared<memokey::LeaseResult>();
      const memokey::Status status = store_.AcquireLease(plan.key, plan.options, result.get());
      asio::post(ioc_, [session = std::move(session), status, result] {
        session->CompleteLease(status, result.get());
      });
    });
  }

  memokey::Store& store() { return store_; }

  const Config& config;
  const bool batch_reads;  // collect GETs into Store::GetMany (remote stores)
  Metrics& metrics;
  MetricsShard& shard;
  Handler handler;
  const std::atomic<bool>& draining;
  std::string date;  // the Date header, refreshed by the cron

 private:
  void ScheduleCron() {
    cron_.expires_after(cron_period_);
    cron_.async_wait([this](const error_code& ec) {
      if (ec) return;
      date = HttpDate();
      const Clock::time_point now = Clock::now();
      std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
      for (Session* s : sessions) s->CheckDeadline(now);
      ScheduleCron();
    });
  }

  // One store round trip for every read queued since the last flush.
  void FlushReads() {
    batch_.swap(pending_reads_);  // reads queued from now on go to the next flush
    batch_keys_.clear();
    for (const auto& session : batch_) batch_keys_.push_back(session->pending_key());
    const memokey::Status status = store_.GetMany(batch_keys_, &batch_values_);
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      std::optional<std::string> none;
      batch_[i]->CompleteRead(status, i < batch_values_.size() ? &batch_values_[i] : &none);
    }
    batch_.clear();  // (the vectors keep their capacity for the next batch)
  }

  // Destroyed after ioc_ (members go in reverse order): sessions still
  // pending in the io_context unregister themselves as it is torn down.
  std::list<Session*> sessions_;
  memokey::Store& store_;
  asio::thread_pool& lease_pool_;
  std::vector<std::shared_ptr<Session>> pending_reads_;
  std::vector<std::shared_ptr<Session>> batch_;
  std::vector<std::string_view> batch_keys_;
  std::vector<std::optional<std::string>> batch_values_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer cron_;
  Millis cron_period_{100};
  std::thread thread_;
};

// --- Session implementation -------------------------------------------------------

Session::Session(Worker& worker, tcp::socket socket) : worker_(worker), socket_(std::move(socket)) {
  registry_entry_ = worker_.Register(this);
}

Session::~Session() {
  worker_.Unregister(registry_entry_);
  worker_.metrics.open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void Session::SetPhase(Phase phase, Clock::duration timeout) {
  phase_ = phase;
  deadline_ = Clock::now() + timeout;
}

void Session::CheckDeadline(Clock::time_point now) {
  if (phase_ == Phase::kClosed || now < deadline_) return;
  timed_out_ = true;
  error_code ignored;
  socket_.cancel(ignored);  // the pending read or write completes with operation_aborted
}

void Session::Drain() {
  if (phase_ == Phase::kIdle && buffer_.size() == 0) {
    timed_out_ = true;  // OnRead treats it like an idle timeout: close quietly
    error_code ignored;
    socket_.cancel(ignored);
  }
}

// Prepares for the next request on this connection: a request may already be
// in the buffer (pipelining); otherwise wait for one.
void Session::NextRequest() {
  if (request_.body.capacity() > kKeepCapacity) std::string().swap(request_.body);
  if (response_.body.capacity() > kKeepCapacity) std::string().swap(response_.body);
  parser_.emplace(&request_, worker_.config.limits.max_body, worker_.config.limits.max_header);
  response_.clear();
  admitted_ = false;
  timed_out_ = false;
  if (buffer_.size() > 0) {
    SetPhase(Phase::kHeader, worker_.config.limits.header_timeout);
    Parse();
    return;
  }
  if (worker_.draining.load(std::memory_order_relaxed)) return Close();
  SetPhase(Phase::kIdle, worker_.config.limits.idle_timeout);
  Read();
}

void Session::Read() {
  socket_.async_read_some(
      buffer_.prepare(kReadChunk),
      [self = shared_from_this()](const error_code& ec, std::size_t n) { self->OnRead(ec, n); });
}

void Session::OnRead(const error_code& ec, std::size_t n) {
  if (ec) {
    if (timed_out_ && (phase_ == Phase::kHeader || phase_ == Phase::kBody)) {
      // Too slow to send its request (slowloris, or a stalled upload).
      worker_.shard.timeouts.Add();
      timed_out_ = false;
      return Refuse(408, "request timeout\n");
    }
    // Idle timeout, drain, lingering done, the client closed or reset.
    return Close();
  }
  buffer_.commit(n);
  if (phase_ == Phase::kLingering) {
    buffer_.consume(buffer_.size());
    return Read();
  }
  if (phase_ == Phase::kIdle) SetPhase(Phase::kHeader, worker_.config.limits.header_timeout);
  Parse();
}

// Feeds the buffered bytes to the parser; reads more, or dispatches.
void Session::Parse() {
  while (true) {
    boost::beast::error_code ec;
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == beast_http::error::need_more) return Read();
    if (ec) {
      const int status = StatusForParseError(ec);
      return Refuse(status, status == 413   ? "request body too large\n"
                            : status == 431 ? "request header too large\n"
                                            : "malformed request\n");
    }
    if (parser_->is_done()) return Dispatch();
    if (!parser_->is_header_done()) return Read();

    if (!admitted_) {
      // The header is in and a body follows: refuse now rather than after
      // reading it (no write right, bad key, wrong method).
      admitted_ = true;
      if (!worker_.handler.Admit(request_, &response_)) {
        route_ = ParseTarget(request_.target).route;
        response_.close = true;
        return Respond();
      }
      parser_->eager(true);
      SetPhase(Phase::kBody, worker_.config.limits.body_timeout);
      AcknowledgeNow();
      if (request_.expect_continue && buffer_.size() == 0) return WriteContinue();
    }
    if (buffer_.size() == 0) return Read();
  }
}

// A client that writes a request's header and body in two writes without
// TCP_NODELAY (ccache's HTTP client) holds the body back until the header is
// acknowledged, and the kernel's delayed ACK holds that for ~40 ms: each PUT
// of ccache's first build would wait that long. Linux clears TCP_QUICKACK by
// itself after a while, so it is set again for every body.
void Session::AcknowledgeNow() {
#ifdef TCP_QUICKACK
  const int on = 1;
  ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
#endif
}

void Session::WriteContinue() {
  SetPhase(Phase::kWriting, worker_.config.limits.write_timeout);
  asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                    [self = shared_from_this()](const error_code& ec, std::size_t) {
                      if (ec) return self->Close();
                      self->SetPhase(Phase::kBody, self->worker_.config.limits.body_timeout);
                      self->Read();
                    });
}

// The request is complete: answer it — now, or after the worker's next
// batched store read.
void Session::Dispatch() {
  request_done_ = Clock::now();
  if (request_.method == Method::kPost) {
    lease_ = worker_.handler.PrepareLease(request_, &response_);
    route_ = Route::kObject;
    if (lease_.kind == Handler::LeasePlan::Kind::kAcquire) {
      SetPhase(Phase::kWriting, lease_.options.wait + worker_.config.limits.write_timeout);
      worker_.AcquireLease(shared_from_this(), lease_);
      return;
    }
    if (lease_.kind == Handler::LeasePlan::Kind::kRelease) {
      // A release never waits: one store call, here.
      memokey::LeaseResult none;
      worker_.handler.FinishLease(lease_, worker_.store().ReleaseLease(lease_.key, lease_.token),
                                  &none, &response_);
    }
    return Finish();
  }
  if (worker_.batch_reads) {
    switch (worker_.handler.PrepareRead(request_, &pending_key_, &response_)) {
      case Handler::ReadPlan::kFetch:
        SetPhase(Phase::kWriting, worker_.config.limits.write_timeout);
        worker_.EnqueueRead(shared_from_this());
        return;
      case Handler::ReadPlan::kAnswered:
        route_ = Route::kObject;
        return Finish();
      case Handler::ReadPlan::kNotARead:
        break;
    }
  }
  route_ = worker_.handler.Handle(request_, &response_);
  Finish();
}

void Session::CompleteRead(const memokey::Status& status, std::optional<std::string>* value) {
  worker_.handler.FinishRead(request_, status, value, &response_);
  route_ = Route::kObject;
  Finish();
}

void Session::CompleteLease(const memokey::Status& status, memokey::LeaseResult* result) {
  worker_.handler.FinishLease(lease_, status, result, &response_);
  Finish();
}

void Session::Finish() {
  if (!request_.keep_alive || worker_.draining.load(std::memory_order_relaxed))
    response_.close = true;
  Respond();
}

// Answers without (or before) reading the request: parse errors, limits,
// timeouts. The connection is closed afterwards, since what follows in the
// stream can no longer be trusted to start a request.
void Session::Refuse(int status, std::string_view text) {
  request_done_ = Clock::now();
  route_ = Route::kInvalid;
  response_.clear();
  response_.status = status;
  response_.content_type = "text/plain; charset=utf-8";
  response_.body.assign(text);
  response_.close = true;
  Respond();
}

void Session::Respond() {
  if (request_done_ == Clock::time_point{}) request_done_ = Clock::now();
  head_.clear();
  const bool keep_alive_10 = request_.version == 10 && request_.keep_alive && !response_.close;
  SerializeHead(response_, worker_.date, keep_alive_10, &head_);
  SetPhase(Phase::kWriting, worker_.config.limits.write_timeout);
  // One gather write: header and body leave in one writev, the body is not copied.
  std::array<asio::const_buffer, 2> buffers = {
      asio::buffer(head_),
      asio::buffer(response_.body.data(), response_.omit_body ? 0 : response_.body.size())};
  asio::async_write(
      socket_, buffers,
      [self = shared_from_this()](const error_code& ec, std::size_t) { self->OnWritten(ec); });
}

void Session::OnWritten(const error_code& ec) {
  MetricsShard& shard = worker_.shard;
  shard.CountRequest(route_, request_.method, response_.status);
  shard.ObserveLatency(Clock::now() - request_done_);
  if (!response_.omit_body) shard.bytes_out.Add(response_.body.size());
  if (LogEnabled(LogLevel::kDebug)) {
    // Never the Authorization header; the target is client input, escaped by Log.
    error_code peer_ec;
    const tcp::endpoint peer = socket_.remote_endpoint(peer_ec);
    Log(LogLevel::kDebug, "request",
        {{"method", request_.method_text},
         {"target", std::string_view(request_.target).substr(0, 256)},
         {"status", response_.status},
         {"bytes_in", request_.body.size()},
         {"bytes_out", response_.omit_body ? 0 : response_.body.size()},
         {"us", static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           Clock::now() - request_done_)
                                           .count())},
         {"peer", peer_ec ? std::string("?") : FormatAddress(peer)}});
  }
  request_done_ = {};
  if (ec) {
    if (timed_out_) shard.timeouts.Add();
    return Close();
  }
  if (response_.close) return Linger();
  NextRequest();
}

// Half-close and drain the input for a moment, so the client reads our last
// response before the connection goes away (closing a socket with unread
// input makes the kernel send a reset, which can destroy that response).
void Session::Linger() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  timed_out_ = false;
  SetPhase(Phase::kLingering, kLingerTime);
  buffer_.consume(buffer_.size());
  Read();
}

void Session::Close() {
  phase_ = Phase::kClosed;
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace

// --- Impl: the main thread ---------------------------------------------------------

class Server::Impl {
 public:
  Impl(const Config& config, memokey::Store& store, unsigned threads)
      : config_(config),
        store_(store),
        metrics_(threads),
        acceptor_(control_),
        signals_(control_, SIGINT, SIGTERM),
        accept_retry_(control_),
        drain_timer_(control_) {
    info_.threads = threads;
    info_.store_description = store.Describe();
    info_.draining = &draining_;
    for (unsigned i = 0; i < threads; ++i) {
      workers_.push_back(std::make_unique<Worker>(config_, store_, metrics_, i, info_, draining_,
                                                  StoreIsRemote(config_), lease_pool_));
    }
  }

  ~Impl() {
    for (auto& w : workers_) w->Stop();
    for (auto& w : workers_) w->Join();
    // Lease waits still running end within kMaxLeaseWait; queued ones are dropped.
    lease_pool_.stop();
    lease_pool_.join();
  }

  memokey::Status Listen() {
    std::string host;
    std::uint16_t port = 0;
    if (memokey::Status s = ParseListen(config_.listen, &host, &port); !s.ok()) return s;
    error_code ec;
    tcp::resolver resolver(control_);
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return memokey::Status::Error("listen: cannot resolve \"" + host + "\": " + ec.message());
    }
    const tcp::endpoint endpoint = results.begin()->endpoint();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return memokey::Status::IOError("listen on " + FormatAddress(endpoint) + ": " + ec.message());
    info_.listen = FormatAddress(acceptor_.local_endpoint());
    return memokey::Status::Ok();
  }

  std::string address() const { return info_.listen; }

  void Run() {
    for (auto& w : workers_) w->Start();
    signals_.async_wait([this](const error_code& ec, int signo) { OnSignal(ec, signo); });
    Accept();
    control_.run();
    for (auto& w : workers_) w->Stop();
    for (auto& w : workers_) w->Join();
    Log(LogLevel::kInfo, "stopped",
        {{"open_connections", static_cast<long long>(metrics_.open_connections.load())}});
  }

  void Shutdown() {
    asio::post(control_, [this] { BeginShutdown("shutdown requested"); });
  }

 private:
  void Accept() {
    Worker& worker = *workers_[next_worker_];
    acceptor_.async_accept(worker.ioc(), [this, &worker](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        // Out of file descriptors (or similar): pause rather than spin.
        Log(LogLevel::kWarn, "accept failed", {{"error", ec.message()}});
        accept_retry_.expires_after(std::chrono::milliseconds(100));
        accept_retry_.async_wait([this](const error_code& wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      next_worker_ = (next_worker_ + 1) % workers_.size();
      metrics_.connections_total.fetch_add(1, std::memory_order_relaxed);
      if (metrics_.open_connections.load(std::memory_order_relaxed) >=
          static_cast<std::int64_t>(config_.limits.max_connections)) {
        // Over the limit: a best-effort 503 without blocking, then close.
        metrics_.connections_rejected.fetch_add(1, std::memory_order_relaxed);
        error_code ignored;
        socket.non_blocking(true, ignored);
        socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
      } else {
        metrics_.open_connections.fetch_add(1, std::memory_order_relaxed);
        asio::post(worker.ioc(), [&worker, s = std::move(socket)]() mutable {
          // If the worker is already stopping the socket just closes; the
          // count is then off by one in a process about to exit.
          worker.Adopt(std::move(s));
        });
      }
      Accept();
    });
  }

  void OnSignal(const error_code& ec, int signo) {
    if (ec) return;
    if (draining_.load()) {
      Log(LogLevel::kWarn, "second signal: stopping now", {{"signal", signo}});
      return Finish();
    }
    BeginShutdown(signo == SIGINT ? "SIGINT" : "SIGTERM");
    signals_.async_wait([this](const error_code& e, int s) { OnSignal(e, s); });
  }

  void BeginShutdown(std::string_view why) {
    if (draining_.exchange(true)) return;
    Log(LogLevel::kInfo, "shutting down",
        {{"reason", why},
         {"open_connections", static_cast<long long>(metrics_.open_connections.load())},
         {"drain_timeout_ms", static_cast<long long>(config_.limits.drain_timeout.count())}});
    error_code ignored;
    acceptor_.close(ignored);
    for (auto& w : workers_) {
      Worker* worker = w.get();
      asio::post(worker->ioc(), [worker] { worker->Drain(); });
    }
    drain_deadline_ = Clock::now() + config_.limits.drain_timeout;
    PollDrain();
  }

  void PollDrain() {
    if (metrics_.open_connections.load() <= 0) return Finish();
    if (Clock::now() >= drain_deadline_) {
      Log(LogLevel::kWarn, "drain timeout: closing remaining connections",
          {{"open_connections", static_cast<long long>(metrics_.open_connections.load())}});
      return Finish();
    }
    drain_timer_.expires_after(std::chrono::milliseconds(20));
    drain_timer_.async_wait([this](const error_code& ec) {
      if (!ec) PollDrain();
    });
  }

  void Finish() {
    error_code ignored;
    signals_.cancel(ignored);
    drain_timer_.cancel();
    accept_retry_.cancel();
    control_.stop();
  }

  const Config& config_;
  memokey::Store& store_;
  Metrics metrics_;
  ServerInfo info_;
  std::atomic<bool> draining_{false};
  // Workers are destroyed after the control loop below (reverse order of
  // declaration), so nothing pending there can outlive a worker it names.
  std::vector<std::unique_ptr<Worker>> workers_;
  // After workers_: destroyed first, while the workers it posts answers to still exist.
  asio::thread_pool lease_pool_{kLeaseThreads};
  std::size_t next_worker_ = 0;
  asio::io_context control_{1};
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::steady_timer accept_retry_;
  asio::steady_timer drain_timer_;
  Clock::time_point drain_deadline_{};
};

Server::Server(const Config& config, memokey::Store& store, unsigned threads)
    : impl_(std::make_unique<Impl>(config, store, std::max(1u, threads))) {}
Server::~Server() = default;
memokey::Status Server::Listen() { return impl_->Listen(); }
std::string Server::address() const { return impl_->address(); }
void Server::Run() { impl_->Run(); }
void Server::Shutdown() { impl_->Shutdown(); }

}  // namespace memokeyd
