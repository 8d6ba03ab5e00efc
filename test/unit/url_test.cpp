#include "common/error.hpp"
#include "target/url.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace sunsync;

namespace {

// A resolver with fixed answers: unit tests never use the network.
HostResolver fake_dns(std::map<std::string, std::vector<std::string>> table)
{
	return [table](const std::string &host) {
		auto it = table.find(host);
		if (it == table.end())
			throw Error(sqlstate::invalid_parameter_value, "could not resolve target host \"" + host + "\"");
		return it->second;
	};
}

const HostResolver dns = fake_dns({{"db.example.com", {"203.0.113.10"}},
								   {"sneaky.example.com", {"203.0.113.11", "10.0.0.5"}},
								   {"localhost", {"127.0.0.1", "::1"}}});

UrlPolicy user() { return UrlPolicy{}; }
UrlPolicy superuser() { UrlPolicy p; p.superuser = true; return p; }

// The message of the Error that check_target_url throws, or "" when it accepts.
std::string refusal(const std::string &url, UrlPolicy policy = user())
{
	try {
		check_target_url(url, policy, dns);
		return "";
	} catch (const Error &e) {
		return e.message();
	}
}

} // namespace

TEST(TargetUrl, AcceptsPublicHostWithPassword)
{
	TargetUrl t = check_target_url("postgresql://alice:s3cret@db.example.com:5432/family", user(), dns);
	EXPECT_EQ(t.dbname, "family");
	EXPECT_EQ(t.user, "alice");
	EXPECT_TRUE(t.has_password);
	EXPECT_EQ(t.masked, "postgresql://alice:***@db.example.com:5432/family");
	EXPECT_EQ(refusal("postgres://a:b@203.0.113.9/db"), "");
	EXPECT_EQ(refusal("postgres://a:b@[2001:db8::5]:5433/db"), "");
}

TEST(TargetUrl, RefusesOtherForms)
{
	EXPECT_NE(refusal("host=db.example.com dbname=x password=y").find("must start with"), std::string::npos);
	EXPECT_NE(refusal("mysql://a:b@db.example.com/x").find("must start with"), std::string::npos);
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com/x?nosuchoption=1"), "invalid target URL");
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com:99999999999/x?sslmode=bogus"), "invalid target URL");
}

TEST(TargetUrl, RequiresHostAndDatabase)
{
	EXPECT_EQ(refusal("postgresql://a:b@/db"), "target URL must name a host");
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com"), "target URL must name a database");
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com/"), "target URL must name a database");
}

TEST(TargetUrl, RefusesUnixSockets)
{
	EXPECT_EQ(refusal("postgresql://a:b@%2Fvar%2Frun%2Fpostgresql/db"),
			  "target URL must not name a Unix-domain socket");
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com/db?host=/tmp"),
			  "target URL must not name a Unix-domain socket");
}

TEST(TargetUrl, RefusesLoopbackPrivateAndLinkLocal)
{
	EXPECT_EQ(refusal("postgresql://a:b@localhost/db"), "target host \"localhost\" is a loopback address");
	EXPECT_EQ(refusal("postgresql://a:b@127.0.0.1/db"), "target host \"127.0.0.1\" is a loopback address");
	EXPECT_EQ(refusal("postgresql://a:b@[::1]/db"), "target host \"::1\" is a loopback address");
	EXPECT_EQ(refusal("postgresql://a:b@192.168.0.4/db"), "target host \"192.168.0.4\" is a private address");
	EXPECT_EQ(refusal("postgresql://a:b@169.254.169.254/db"),
			  "target host \"169.254.169.254\" is a link-local address");
	// every address the name resolves to is checked, not only the first
	EXPECT_EQ(refusal("postgresql://a:b@sneaky.example.com/db"),
			  "target host \"sneaky.example.com\" is a private address");
	// and every host of a multi-host URL, and hostaddr
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com,localhost/db"),
			  "target host \"localhost\" is a loopback address");
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com/db?hostaddr=10.1.1.1"),
			  "target host \"10.1.1.1\" is a private address");
	EXPECT_NE(refusal("postgresql://a:b@nowhere.example.com/db").find("could not resolve"), std::string::npos);
}

TEST(TargetUrl, PrivateTargetsAllowedWhenSet)
{
	UrlPolicy p;
	p.allow_private_targets = true;
	EXPECT_EQ(refusal("postgresql://a:b@localhost:5433/db", p), "");
	EXPECT_EQ(refusal("postgresql://a:b@10.0.0.1/db", p), "");
}

TEST(TargetUrl, NonSuperuserNeedsPasswordAndNoServerFiles)
{
	EXPECT_EQ(refusal("postgresql://alice@db.example.com/db"), "target URL must include a password");
	EXPECT_EQ(refusal("postgresql://alice@db.example.com/db", superuser()), "");
	EXPECT_EQ(refusal("postgresql://alice@db.example.com/db?password=x"), "");
	for (const char *opt : {"passfile", "service", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslcrldir"}) {
		std::string url = std::string("postgresql://a:b@db.example.com/db?") + opt + "=/etc/passwd";
		EXPECT_EQ(refusal(url), std::string("target URL option \"") + opt + "\" is not allowed") << opt;
		EXPECT_EQ(refusal(url, superuser()), "") << opt;
	}
}

TEST(TargetUrl, RequireSslDemandsStrongSslmode)
{
	UrlPolicy p;
	p.require_ssl = true;
	const std::string refused = "target URL must use sslmode=require, verify-ca or verify-full";
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com/db", p), refused);
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com/db?sslmode=prefer", p), refused);
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com/db?sslmode=require", p), "");
	EXPECT_EQ(refusal("postgresql://a:b@db.example.com/db?sslmode=verify-full", p), "");
}

TEST(MaskUrl, HidesEveryPassword)
{
	EXPECT_EQ(mask_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
	EXPECT_EQ(mask_url("postgres://u@h/db"), "postgres://u@h/db");
	EXPECT_EQ(mask_url("postgres://h/db?password=pw&sslmode=require"),
			  "postgres://h/db?password=***&sslmode=require");
	EXPECT_EQ(mask_url("postgres://h/db?sslmode=require&pass%77ord=pw"),
			  "postgres://h/db?sslmode=require&pass%77ord=***");
	EXPECT_EQ(mask_url("postgres://u:p:w?x@h/db"), "postgres://u:***@h/db");
	EXPECT_EQ(mask_url("postgres://u:a@b@h/db"), "postgres://u:***@b@h/db");
	EXPECT_EQ(mask_url("not a url password=x"), "not a url password=x");
}

TEST(MaskUrl, MessagesOfMalformedUrlsNeverShowThePassword)
{
	const std::string url = "postgresql://u:T0p%zzSecret@db.example.com/db";
	try {
		check_target_url(url, user(), dns);
		FAIL() << "accepted a malformed URL";
	} catch (const Error &e) {
		EXPECT_EQ(e.message(), "invalid target URL");
		EXPECT_EQ(e.detail().find("Secret"), std::string::npos) << e.detail();
	}
}

TEST(ScrubSecrets, RawAndDecoded)
{
	EXPECT_EQ(scrub_secrets("bad: p%40ss and p@ss", "postgres://u:p%40ss@h/db"), "bad: *** and ***");
}

TEST(TargetUrlRules, APasswordWithASlashIsNeverEchoedAsAPort)
{
	sunsync::UrlPolicy policy;
	policy.superuser = true;
	policy.allow_private_targets = true;
	try {
		sunsync::check_target_url("postgresql://u:p4ss/w0rd@203.0.113.5/db", policy,
								  [](const std::string &) { return std::vector<std::string>{"203.0.113.5"}; });
		FAIL() << "the URL must be refused";
	} catch (const sunsync::Error &e) {
		std::string all = std::string(e.what()) + " " + e.detail() + " " + e.hint();
		EXPECT_EQ(all.find("p4ss"), std::string::npos) << all;
		EXPECT_EQ(all.find("w0rd"), std::string::npos) << all;
	}
}
