#include "remote/connection.hpp"

#include "common/error.hpp"
#include "pg/guard.hpp"
#include "target/address.hpp"
#include "target/url.hpp"

extern "C" {
#include "common/pg_prng.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

#include <openssl/evp.h>
#include <poll.h>

#include <algorithm>
#include <map>

namespace sunsync::remote {

namespace {

// A deadline of wait_for that passed (not a cancel, whose SQLSTATE is the same).
struct DeadlinePassed : Error {
	using Error::Error;
};

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// What a target says is the target's to choose: no control character of it
// reaches our log lines, and no SQLSTATE that is not an error class (a
// target could claim "00000", or "40001" to make clients retry).
std::string printable(std::string s)
{
	for (char &c : s)
		if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
			c = ' ';
	return s;
}

std::string error_class(const char *state)
{
	std::string code = state ? state : "08006";
	bool valid = code.size() == 5;
	for (char c : code)
		valid = valid && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'));
	if (!valid || code.compare(0, 2, "00") == 0 || code.compare(0, 2, "01") == 0 ||
		code.compare(0, 2, "02") == 0 || code.compare(0, 2, "40") == 0)
		return "XX000";
	return code;
}

std::string first_line(const char *msg)
{
	std::string s = msg ? msg : "";
	size_t nl = s.find('\n');
	if (nl != std::string::npos)
		s.resize(nl);
	while (!s.empty() && s.back() == ' ')
		s.pop_back();
	return s;
}

bool contains(const std::string &s, const char *needle) { return s.find(needle) != std::string::npos; }

// Keywords and values for PQconnectStartParams: the URL's own options, with
// every host pinned to an address checked against the address policy (so a
// name cannot resolve elsewhere between the check and the connection).
struct Params {
	std::vector<std::string> keys, values;
	std::string where, user;
};

Params connection_params(const std::string &url, const ConnectOptions &opt)
{
	// The same rules as when the URL was stored, with this server's settings;
	// the addresses checked are the ones used.
	UrlPolicy policy;
	policy.superuser = opt.trusted;
	policy.allow_private_targets = opt.allow_private_targets;
	TargetUrl checked = check_target_url(url, policy, resolver(opt.connect_timeout_ms));
	UrlOptions set = checked.options;

	std::string hosts, addrs, ports;
	for (size_t i = 0; i < checked.endpoints.size(); i++) {
		const Endpoint &e = checked.endpoints[i];
		hosts += (i ? "," : "") + e.host;
		addrs += (i ? "," : "") + e.hostaddr;
		ports += (i ? "," : "") + e.port;
	}
	set["host"] = hosts;
	set["hostaddr"] = addrs;
	set["port"] = ports;
	set.erase("connect_timeout"); // ours applies, through WaitLatchOrSocket
	set["keepalives"] = "1";
	set["keepalives_idle"] = "30";
	set["keepalives_interval"] = "10";
	set["keepalives_count"] = "3";
	// sent data that the target does not acknowledge (a link gone silent)
	// ends the connection, rather than a statement's whole timeout; longer
	// than the target's lock_timeout, which says more when it is the cause
	if (!set.count("tcp_user_timeout"))
		set["tcp_user_timeout"] = std::to_string(std::max(30000, opt.lock_timeout_ms) + 30000);
	set["application_name"] = "sunsync";
	set["client_encoding"] = opt.client_encoding;
	if (!opt.trusted)
		set["passfile"] = "/dev/null"; // never the server's own .pgpass

	Params p;
	for (auto &[k, v] : set) {
		p.keys.push_back(k);
		p.values.push_back(v);
	}
	const Endpoint &first = checked.endpoints.front();
	p.where = (first.host.empty() ? first.hostaddr : first.host) + ":" +
			  (first.port.empty() ? "5432" : first.port);
	p.user = set.count("user") ? set["user"] : "";
	return p;
}

std::string sha256(const std::string &bytes)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1)
		throw std::bad_alloc();
	return std::string(reinterpret_cast<char *>(md), len);
}

// What a connection was opened with, as a digest (it covers the password:
// only the digest is kept).
std::string fingerprint(const Params &p, const ConnectOptions &opt)
{
	std::string all;
	for (size_t i = 0; i < p.keys.size(); i++)
		all += p.keys[i] + '\0' + p.values[i] + '\0';
	all += std::to_string(opt.statement_timeout_ms) + ',' + std::to_string(opt.lock_timeout_ms) + ',' +
		   (opt.trusted ? "t" : "f");
	return sha256(all);
}

} // namespace

std::string cache_key(const std::string &url, const ConnectOptions &options)
{
	std::string all = url + '\0' + (options.trusted ? "t" : "f");
	return sha256(all);
}

namespace {

// A failed connection as an error that says what to do about it.
Error connect_error(const std::string &where, const std::string &user, const std::string &url,
					const char *libpq_message)
{
	std::string msg = scrub_secrets(first_line(libpq_message), url);
	std::string detail = msg;
	if (contains(msg, "password authentication failed") || contains(msg, "authentication failed") ||
		contains(msg, "no password supplied") || contains(msg, "pg_hba.conf"))
		return Error("28P01", "authentication failed on target " + where + " for user \"" + user + "\"",
					 detail, "Check the user name and password in the target URL.");
	if (contains(msg, "Connection refused"))
		return Error("08001", "could not connect to target " + where + ": connection refused", detail,
					 "Check that the target server is running and accepts TCP connections on that port.");
	if (contains(msg, "could not translate host name"))
		return Error("08001", "could not connect to target " + where + ": host not found", detail,
					 "Check the host name in the target URL.");
	if (contains(msg, "No route to host") || contains(msg, "Network is unreachable"))
		return Error("08001", "could not connect to target " + where + ": host unreachable", detail,
					 "Check the network path and firewalls between this server and the target.");
	if (contains(msg, "does not exist") && contains(msg, "database"))
		return Error("3D000", "target database does not exist on " + where, detail,
					 "Create it, or fix the database name in the target URL.");
	return Error("08001", "could not connect to target " + where, detail);
}

} // namespace

HostResolver resolver(int timeout_ms)
{
	return [timeout_ms](const std::string &host) {
		return resolve_host(
			host,
			[] {
				pg::guard([] {
					int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
									   PG_WAIT_EXTENSION);
					if (rc & WL_LATCH_SET)
						ResetLatch(MyLatch);
					CHECK_FOR_INTERRUPTS();
				});
			},
			timeout_ms);
	};
}

Connection::Connection(const std::string &url, ConnectOptions options)
	: conn_(nullptr, PQfinish), options_(std::move(options)), url_(url)
{
	opened_at_ = pg::guard([] { return GetCurrentTimestamp(); });
	Params p = connection_params(url, options_);
	where_ = p.where;
	fingerprint_ = fingerprint(p, options_);
	std::vector<const char *> keys, values;
	for (size_t i = 0; i < p.keys.size(); i++) {
		keys.push_back(p.keys[i].c_str());
		values.push_back(p.values[i].c_str());
	}
	keys.push_back(nullptr);
	values.push_back(nullptr);

	deadline_ = pg::guard([&] {
		return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), options_.connect_timeout_ms);
	});
	conn_.reset(PQconnectStartParams(keys.data(), values.data(), 0));
	if (!conn_)
		throw std::bad_alloc();
	// the target's NOTICEs ("schema exists, skipping") are not for our log
	PQsetNoticeProcessor(conn_.get(), [](void *, const char *) {}, nullptr);
	if (PQstatus(conn_.get()) == CONNECTION_BAD)
		throw connect_error(where_, p.user, url_, PQerrorMessage(conn_.get()));

	for (;;) {
		PostgresPollingStatusType st = PQconnectPoll(conn_.get());
		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			throw connect_error(where_, p.user, url_, PQerrorMessage(conn_.get()));
		try {
			wait_for(st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE,
					 "connecting");
		} catch (const DeadlinePassed &) {
			// (a cancel or SIGTERM is not a timeout: it goes up as it is)
			throw Error("08001",
						"could not connect to target " + where_ + ": timed out after " +
							std::to_string(options_.connect_timeout_ms) + " ms",
						{}, "Check that the target is reachable; see sunsync.connect_timeout.");
		}
	}
	// As dblink does: a login that a non-superuser configured must have
	// been checked with its own password, not let in by trust or by
	// credentials of this server (peer, certificates, Kerberos).
	if (!options_.trusted && !PQconnectionUsedPassword(conn_.get()))
		throw Error("28000", "target " + where_ + " did not ask for the password of user \"" + p.user + "\"",
					"A configuration created by a non-superuser must authenticate with the password in its URL.",
					"Require password authentication (scram-sha-256) for this login in the target's pg_hba.conf.");
	require_supported_version();
	if (PQsetnonblocking(conn_.get(), 1) != 0)
		throw Error("08001", "could not switch the target connection to non-blocking mode");
	queue_session_settings();
}

void Connection::require_supported_version() const
{
	// what a run and sunsync_verify send assumes PostgreSQL 12 (the
	// catalog's generated columns, plan_cache_mode, name = text in index
	// conditions): an older target is refused before any statement is sent
	if (PQserverVersion(conn_.get()) >= minimum_target_version)
		return;
	const char *shown = PQparameterStatus(conn_.get(), "server_version");
	std::string version;
	for (const char *c = shown ? shown : ""; *c && version.size() < 40; c++)
		if (*c >= ' ' && *c <= '~') // the target's own text, into our log
			version += *c;
	if (version.empty())
		version = "unknown";
	throw Error(sqlstate::feature_not_supported,
				"target " + where_ + " runs PostgreSQL " + version + ", which sunsync does not support",
				"sunsync needs PostgreSQL 12 or later on the target.",
				"Upgrade the target server, or point the configuration at a newer one.");
}

std::string Connection::cache_key() const { return remote::cache_key(url_, options_); }

void Connection::queue_session_settings()
{
	// the target's own lock waits are bounded too: a tenant's open
	// transaction there must not hold the run (and its source locks) long
	// (queued: they go with the run's first statement)
	exec("SET statement_timeout = " + std::to_string(options_.statement_timeout_ms));
	exec("SET lock_timeout = " + std::to_string(options_.lock_timeout_ms));
	// (pg_temp named, so that it comes after pg_catalog for type names too)
	exec("SET search_path = pg_catalog, pg_temp");
}

Connection::~Connection() = default;

void Connection::prepare_once(const std::string &name, const std::string &sql)
{
	if (prepared_.count(name))
		return;
	exec("PREPARE " + name + " AS " + sql);
	prepared_.insert(name);
}

std::string Connection::temp_table(const std::string &ddl, size_t n)
{
	std::vector<std::string> &names = temp_tables_[ddl];
	while (names.size() <= n) {
		if (temp_prefix_.empty())
			temp_prefix_ = "sunsync_" + std::to_string(pg_prng_uint32(&pg_global_prng_state) % 1000000) + "_";
		std::string name = temp_prefix_ + std::to_string(temp_count_++);
		exec("CREATE TEMPORARY TABLE pg_temp." + name + " (" + ddl + ") ON COMMIT DELETE ROWS");
		names.push_back("pg_temp." + name);
	}
	return names[n];
}

bool Connection::reusable_for(const std::string &url, const ConnectOptions &options)
{
	if (fingerprint(connection_params(url, options), options) != fingerprint_)
		return false;
	PGconn *c = conn_.get();
	if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE)
		return false;
	// anything to read on an idle connection is the target leaving (a
	// shutdown, a terminated backend, its end of the socket closed): not
	// worth telling apart from the rare notice, a new connection serves
	struct pollfd pfd = {PQsocket(c), POLLIN, 0};
	if (poll(&pfd, 1, 0) != 0)
		return false;
	// a link that went silent shows only when the target does not answer:
	// the first statement of the run gets connect_timeout for its answer
	options_.connect_timeout_ms = options.connect_timeout_ms;
	first_after_reuse_ = true;
	// whatever code on the target (a trigger of another configuration's
	// tables) may have set for the session is undone before this run
	exec("RESET ROLE");
	exec("RESET ALL");
	queue_session_settings();
	return true;
}

void Connection::wait_for(int events, const char *doing)
{
	TimestampTz deadline = deadline_;
	pgsocket sock = PQsocket(conn_.get());
	long ms = pg::guard([&] {
		return deadline == 0 ? 1000L
							 : TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
	});
	if (deadline != 0 && ms <= 0)
		throw DeadlinePassed("57014", std::string("target ") + where_ + " did not answer in time while " + doing);
	pg::guard([&] {
		int rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | WL_TIMEOUT | events,
								   sock, std::min(ms, 1000L), PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	});
	if (options_.check_stop)
		options_.check_stop();
}

void Connection::flush(const char *doing)
{
	for (;;) {
		int rc = PQflush(conn_.get());
		if (rc == 0)
			return;
		if (rc < 0)
			throw Error("08006", "lost the connection to target " + where_ + " while " + doing,
						first_line(PQerrorMessage(conn_.get())));
		wait_for(WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE, doing);
		if (PQconsumeInput(conn_.get()) == 0)
			throw Error("08006", "lost the connection to target " + where_ + " while " + doing,
						first_line(PQerrorMessage(conn_.get())));
	}
}

PGresult *Connection::next_result(const char *doing)
{
	while (PQisBusy(conn_.get())) {
		wait_for(WL_SOCKET_READABLE, doing);
		if (PQconsumeInput(conn_.get()) == 0)
			throw Error("08006", "lost the connection to target " + where_ + " while " + doing,
						first_line(PQerrorMessage(conn_.get())));
	}
	return PQgetResult(conn_.get());
}

void Connection::fail_result(PGresult *res, const std::string &sql)
{
	ResultPtr owned(res, PQclear);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	std::string code = error_class(state);
	std::string msg = printable(first_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)));
	if (msg.empty())
		msg = printable(first_line(PQerrorMessage(conn_.get())));
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	std::string det = printable(detail ? detail : "");
	if (code == "42501")
		throw Error(code, "permission denied on target " + where_ + ": " + msg, det,
					"Grant the target login the right to create schemas and tables, or "
					"create them beforehand.");
	if (code == "55P03")
		throw Error(code, "lock wait timed out on target " + where_ + ": " + msg, det,
					"Another session on the target holds a lock on a table sunsync writes (see pg_locks "
					"there); sunsync.lock_timeout bounds the wait.");
	if (code == "57014")
		throw Error(code, "statement timed out on target " + where_ + ": " + msg, det,
					"See sunsync.statement_timeout.");
	if (code == "23503")
		throw Error(code, "error on target " + where_ + ": " + msg, det,
					"sunsync creates only the foreign key of each table's path to the root; a "
					"foreign key created on the target by other means may refer to rows of "
					"another owner, which sunsync never sends.");
	throw Error(code, "error on target " + where_ + ": " + msg, det,
				{}, "target statement: " + sql.substr(0, 200));
}

TimestampTz Connection::statement_deadline() const
{
	if (options_.statement_timeout_ms <= 0)
		return 0;
	int64 ms = static_cast<int64>(options_.statement_timeout_ms) + 2000;
	// a little after the target's own statement_timeout, which says more
	return pg::guard([ms] { return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms); });
}

void Connection::exec(const std::string &sql, uint64 *affected)
{
	queued_.push_back({sql, affected, {}, false});
}

void Connection::copy(const std::string &sql, std::function<void()> feed, uint64 *rows)
{
	queued_.push_back({sql, rows, std::move(feed), false});
}

void Connection::copy_out(const std::string &sql, std::function<void(const char *, size_t)> take)
{
	queued_.push_back({sql, nullptr, {}, false, std::move(take)});
}

void Connection::sync() { send_queued(nullptr); }

Connection::Rows Connection::query(const std::string &sql)
{
	queued_.push_back({sql, nullptr, {}, true});
	Rows rows;
	send_queued(&rows);
	return rows;
}

void Connection::send_queued(Rows *rows)
{
	if (in_flight_ && sent_.empty())
		throw Error(sqlstate::internal_error, "the connection to target " + where_ + " is in an unknown state");
	if (in_flight_) {
		// answers of a message send() left: their wait starts now (the
		// caller worked meanwhile)
		deadline_ = statement_deadline();
		read_answers(rows);
	}
	send();
	if (in_flight_)
		read_answers(rows);
}

void Connection::send()
{
	if (queued_.empty())
		return;
	if (in_flight_)
		throw Error(sqlstate::internal_error, "the connection to target " + where_ + " is in an unknown state");
	sent_.clear();
	sent_.swap(queued_);
	std::string message;
	for (const auto &s : sent_)
		message += s.sql + ";\n";
	deadline_ = statement_deadline();
	if (first_after_reuse_) {
		first_after_reuse_ = false;
		deadline_ = pg::guard(
			[this] { return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), options_.connect_timeout_ms); });
	}
	// cleared only when every answer was read: a connection left by an
	// error half way (even in sending) is never kept
	in_flight_ = true;
	if (!PQsendQuery(conn_.get(), message.c_str()))
		throw Error("08006", "could not send a statement to target " + where_,
					first_line(PQerrorMessage(conn_.get())));
	flush("sending a statement");
}

void Connection::read_answers(Rows *rows)
{
	std::vector<Statement> sent;
	sent.swap(sent_);
	size_t next = 0;
	while (PGresult *res = next_result("waiting for a statement")) {
		ResultPtr owned(res, PQclear);
		ExecStatusType st = PQresultStatus(res);
		if (next >= sent.size())
			throw Error(sqlstate::internal_error,
						"target " + where_ + " answered more statements than it was sent");
		Statement &s = sent[next];
		if (st == PGRES_FATAL_ERROR)
			fail_result(owned.release(), s.sql);
		if (st == PGRES_COPY_IN) {
			if (!s.feed)
				throw Error(sqlstate::internal_error, "target " + where_ + " asked for COPY data",
							{}, {}, "target statement: " + s.sql.substr(0, 200));
			// The target's statement_timeout ends a COPY that runs too long;
			// this deadline ends one whose target stopped reading at all.
			deadline_ = statement_deadline();
			s.feed();
			end_copy();
			continue; // the COPY's own answer follows
		}
		if (st == PGRES_COPY_OUT) {
			if (!s.take)
				throw Error(sqlstate::internal_error, "target " + where_ + " sent COPY data", {}, {},
							"target statement: " + s.sql.substr(0, 200));
			read_copy(s);
			continue; // the COPY's own answer follows
		}
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
			throw Error(sqlstate::internal_error,
						"target " + where_ + " answered " + PQresStatus(st) + " to a statement", {}, {},
						"target statement: " + s.sql.substr(0, 200));
		if (s.affected) {
			const char *n = PQcmdTuples(res);
			*s.affected += n && *n ? std::stoull(n) : 0;
		}
		if (st == PGRES_TUPLES_OK && s.want_rows && rows) {
			rows->clear();
			for (int r = 0; r < PQntuples(res); r++) {
				rows->emplace_back();
				for (int c = 0; c < PQnfields(res); c++)
					rows->back().push_back(PQgetisnull(res, r, c)
											   ? std::nullopt
											   : std::optional<std::string>(PQgetvalue(res, r, c)));
			}
		}
		next++;
		// each statement has its own time, as the target's statement_timeout
		deadline_ = statement_deadline();
	}
	in_flight_ = false;
	if (next != sent.size())
		throw Error(sqlstate::internal_error, "target " + where_ + " answered fewer statements than it was sent");
}

void Connection::copy_send(const char *data, size_t len)
{
	for (;;) {
		int rc = PQputCopyData(conn_.get(), data, static_cast<int>(len));
		if (rc == 1)
			break;
		if (rc < 0)
			throw Error("08006", "lost the connection to target " + where_ + " during COPY",
						first_line(PQerrorMessage(conn_.get())));
		wait_for(WL_SOCKET_WRITEABLE | WL_SOCKET_READABLE, "sending COPY data");
		PQconsumeInput(conn_.get());
	}
	// In non-blocking mode libpq grows its buffer rather than refuse data:
	// nothing more is queued until the target has taken what we gave it.
	flush("sending COPY data");
}

void Connection::read_copy(const Statement &s)
{
	// The target's statement_timeout ends a COPY that runs too long; this
	// deadline, counted from the last rows that came, ends one whose target
	// went silent.
	deadline_ = statement_deadline();
	bool rows_came = false;
	for (;;) {
		char *buf = nullptr;
		int n = PQgetCopyData(conn_.get(), &buf, 1);
		if (n > 0) {
			std::unique_ptr<char, decltype(&PQfreemem)> owned(buf, PQfreemem);
			s.take(buf, static_cast<size_t>(n));
			rows_came = true;
			continue;
		}
		if (n == -1)
			return; // done: PQgetResult has the COPY's answer
		if (n == -2)
			throw Error("08006", "lost the connection to target " + where_ + " during COPY",
						first_line(PQerrorMessage(conn_.get())));
		if (rows_came)
			deadline_ = statement_deadline();
		rows_came = false;
		wait_for(WL_SOCKET_READABLE, "reading COPY data");
		if (PQconsumeInput(conn_.get()) == 0)
			throw Error("08006", "lost the connection to target " + where_ + " during COPY",
						first_line(PQerrorMessage(conn_.get())));
	}
}

void Connection::end_copy()
{
	for (;;) {
		int rc = PQputCopyEnd(conn_.get(), nullptr);
		if (rc == 1)
			break;
		if (rc < 0)
			throw Error("08006", "lost the connection to target " + where_ + " ending COPY",
						first_line(PQerrorMessage(conn_.get())));
		wait_for(WL_SOCKET_WRITEABLE, "ending COPY");
	}
	flush("ending COPY");
}

} // namespace sunsync::remote
