#include "common/error.hpp"
#include "crypto/seal.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <vector>

#include <cstdio>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace sunsync;

namespace {
std::string temp_path(const char *name)
{
	return std::string(::testing::TempDir()) + "sunsync_" + name + "_" + std::to_string(getpid());
}
} // namespace

TEST(KeyFile, CreatedWith0600AndReusedAfterwards)
{
	std::string path = temp_path("key");
	std::remove(path.c_str());
	SealKey first = load_or_create_key(path);
	struct stat st;
	ASSERT_EQ(stat(path.c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0600);
	EXPECT_EQ(load_or_create_key(path), first);
	std::remove(path.c_str());
}

TEST(KeyFile, MissingWhenUnsealingIsAnErrorNotANewKey)
{
	std::string path = temp_path("lostkey");
	std::remove(path.c_str());
	try {
		load_key(path);
		FAIL() << "a missing key file must be an error";
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos);
	}
	struct stat st;
	EXPECT_NE(stat(path.c_str(), &st), 0) << "and no key file is created";
}

TEST(KeyFile, ConcurrentCreatorsAgreeOnOneCompleteKey)
{
	std::string path = temp_path("racekey");
	std::remove(path.c_str());
	std::vector<pid_t> children;
	for (int i = 0; i < 8; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			// each child creates (or reads) the key and writes what it got
			int ok = 1;
			try {
				SealKey k = load_or_create_key(path);
				std::ofstream(path + ".seen." + std::to_string(getpid())).write(
					reinterpret_cast<const char *>(k.data()), k.size());
			} catch (...) {
				ok = 0;
			}
			_exit(ok ? 0 : 1);
		}
		children.push_back(pid);
	}
	SealKey winner = load_or_create_key(path);
	for (pid_t pid : children) {
		int status = 0;
		waitpid(pid, &status, 0);
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "every creator could read the key";
		std::string seen_path = path + ".seen." + std::to_string(pid);
		std::ifstream seen(seen_path, std::ios::binary);
		SealKey k{};
		seen.read(reinterpret_cast<char *>(k.data()), k.size());
		EXPECT_EQ(k, winner) << "every creator got the same key";
		std::remove(seen_path.c_str());
	}
	std::remove(path.c_str());
}

TEST(KeyFile, RefusesReadableByOthersAndGarbage)
{
	std::string path = temp_path("badkey");
	std::remove(path.c_str());
	load_or_create_key(path);
	chmod(path.c_str(), 0644);
	EXPECT_THROW(load_or_create_key(path), Error);
	std::remove(path.c_str());
	{ std::ofstream(path) << "not a key\n"; }
	chmod(path.c_str(), 0600);
	EXPECT_THROW(load_or_create_key(path), Error);
	std::remove(path.c_str());
}

TEST(Seal, RoundTripAndNoPlaintextInside)
{
	SealKey key{};
	key[0] = 7;
	std::string secret = "postgresql://u:hunter2@db.example.com/db";
	std::string sealed = seal(key, secret, "config 1");
	EXPECT_EQ(sealed.find("hunter2"), std::string::npos);
	EXPECT_EQ(unseal(key, sealed, "config 1"), secret);
	EXPECT_NE(seal(key, secret, "config 1"), sealed) << "nonce must differ each time";
}

TEST(Seal, WrongKeyAadOrTamperingFails)
{
	SealKey key{}, other{};
	other[31] = 1;
	std::string sealed = seal(key, "secret", "config 1");
	EXPECT_THROW(unseal(other, sealed, "config 1"), Error);
	EXPECT_THROW(unseal(key, sealed, "config 2"), Error);
	std::string tampered = sealed;
	tampered.back() ^= 1;
	EXPECT_THROW(unseal(key, tampered, "config 1"), Error);
	EXPECT_THROW(unseal(key, "short", "config 1"), Error);
}
