// One libpq connection to a target.  libpq is used in non-blocking mode
// after the connection starts: every wait (connect, statement, COPY) goes
// through WaitLatchOrSocket with a deadline and CHECK_FOR_INTERRUPTS, so
// SIGTERM, a cancel or a stop request ends it.  The host name is resolved
// once, asynchronously, and libpq is given the checked addresses (hostaddr),
// so it resolves nothing itself.  Errors are sunsync::Error with a message
// that names the cause and never a password.
#pragma once

#include "pg/postgres.hpp"

#include "target/url.hpp"

#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace sunsync::remote {

struct ConnectOptions {
	bool allow_private_targets = false;
	bool trusted = false;    // created by a superuser: may use server files
	int connect_timeout_ms = 10000;
	int statement_timeout_ms = 600000;
	int lock_timeout_ms = 60000; // on the target (SET lock_timeout)
	std::string client_encoding = "UTF8"; // the source database's encoding
	// Called after every wait; throws to stop (SIGTERM, config deleted).
	std::function<void()> check_stop;
};

// Resolves host names for the URL rules, abandoning the lookup on a cancel
// or SIGTERM (CHECK_FOR_INTERRUPTS) and after timeout_ms.
HostResolver resolver(int timeout_ms);

// A digest of a URL and the options that decide who may use a connection
// to it (the URL holds the password: only the digest is kept as a key).
std::string cache_key(const std::string &url, const ConnectOptions &options);

// the oldest target server a connection accepts (PQserverVersion's form)
inline constexpr int minimum_target_version = 120000;

class Connection {
public:
	Connection(const std::string &url, ConnectOptions options);
	~Connection();

	// Whether this connection, kept from an earlier run, may serve a run
	// to `url` with `options`: the URL passes the rules again (its host
	// resolved and checked again: an error is thrown as a new connection
	// would), leads to the same addresses with the same options, and the
	// connection is idle and alive (the target did not close it).
	bool reusable_for(const std::string &url, const ConnectOptions &options);
	// What ConnectionCache files it under: cache_key of its URL and options.
	std::string cache_key() const;
	TimestampTz opened_at() const { return opened_at_; }
	// The next run's way of being stopped.
	void set_check_stop(std::function<void()> check_stop) { options_.check_stop = std::move(check_stop); }
	Connection(const Connection &) = delete;
	Connection &operator=(const Connection &) = delete;

	using Rows = std::vector<std::vector<std::optional<std::string>>>;

	// A run talks to its target in a few round trips, however many
	// statements it sends: exec() and copy() only queue a statement (one
	// statement each), and the next query() or sync() sends everything
	// queued as one simple-query message and reads every answer.  An error
	// of a queued statement is thrown there, naming that statement.
	void exec(const std::string &sql, uint64 *affected = nullptr);
	// COPY ... FROM STDIN, queued: when the target starts it, feed() sends
	// its data with copy_send(); rows, if given, gets the rows copied.
	void copy(const std::string &sql, std::function<void()> feed, uint64 *rows = nullptr);
	// COPY ... TO STDOUT, queued: each row's data (one line of COPY text
	// format, with its newline) is handed to take() as it arrives, so that
	// a large result is never held whole.
	void copy_out(const std::string &sql, std::function<void(const char *, size_t)> take);
	// Sends what is queued and waits for all of it.
	void sync();
	// Sends what is queued and returns at once: the target works on it
	// while the caller does something else; the next sync() or query()
	// reads its answers (a COPY TO's rows go to take() then).
	void send();
	// Sends what is queued and this statement; returns this one's rows, as text.
	Rows query(const std::string &sql);
	// Inside a feed: data for the COPY the target is reading.
	void copy_send(const char *data, size_t len);
	// Nothing queued, nothing in flight: the connection may be kept.
	bool idle() const { return queued_.empty() && !in_flight_; }
	// Queues PREPARE name AS sql unless this session has it already: a
	// statement every run sends is planned once per connection, not once
	// per run (the target replans it by itself after DDL).  A connection
	// whose message failed is never kept, so no failed PREPARE is counted.
	void prepare_once(const std::string &name, const std::string &sql);
	// The name (pg_temp.…) of this session's n-th temporary table with
	// columns ddl, queuing its CREATE (ON COMMIT DELETE ROWS) the first time:
	// a run's scratch tables are made once per connection, not once per run
	// (their catalog rows cost a one-row run most of its time on the
	// target).  A run asks for the n-th of a shape for its n-th use of it,
	// so the session holds as many of a shape as one run used at most, not
	// one per table and purpose: every commit that touched one empties them
	// all, each at the cost of a truncation.  Only a run that commits may
	// keep its connection, so a table whose CREATE was rolled back is never
	// counted here.
	std::string temp_table(const std::string &ddl, size_t n);

	// Where the connection goes, for messages: "host:port".
	const std::string &where() const { return where_; }
	PGconn *raw() { return conn_.get(); }

private:
	void wait_for(int events, const char *doing);
	TimestampTz statement_deadline() const;
	void flush(const char *doing);
	PGresult *next_result(const char *doing);
	[[noreturn]] void fail_result(PGresult *res, const std::string &sql);
	void end_copy();
	void send_queued(Rows *rows);
	void read_answers(Rows *rows);

	struct Statement {
		std::string sql;
		uint64 *affected = nullptr;
		std::function<void()> feed; // a COPY FROM STDIN's data
		bool want_rows = false;
		std::function<void(const char *, size_t)> take; // a COPY TO STDOUT's rows
	};
	void read_copy(const Statement &s);
	void queue_session_settings();
	void require_supported_version() const;
	std::vector<Statement> queued_;
	std::vector<Statement> sent_; // sent, answers not read yet
	bool in_flight_ = false;
	std::set<std::string> prepared_;
	std::map<std::string, std::vector<std::string>> temp_tables_; // ddl -> names
	size_t temp_count_ = 0;
	std::string temp_prefix_; // this connection's own: not a name another left in a pooled session

	std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
	ConnectOptions options_;
	std::string url_;
	std::string where_;
	std::string fingerprint_; // digest of what the connection was opened with
	TimestampTz opened_at_ = 0;
	bool first_after_reuse_ = false;
	TimestampTz deadline_ = 0;
};

} // namespace sunsync::remote
