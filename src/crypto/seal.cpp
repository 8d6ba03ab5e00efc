#include "crypto/seal.hpp"

#include "common/error.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace sunsync {

namespace {

constexpr unsigned char version = 1;
constexpr size_t nonce_len = 12, tag_len = 16, header_len = 1 + nonce_len + tag_len;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherCtx new_ctx()
{
	CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
	if (!ctx)
		throw std::bad_alloc();
	return ctx;
}

[[noreturn]] void crypto_failure(const char *what)
{
	throw Error(sqlstate::internal_error, std::string("could not ") + what);
}

[[noreturn]] void key_file_error(const std::string &path, const std::string &what,
								 const std::string &hint = {})
{
	throw Error(sqlstate::config_file_error, "key file \"" + path + "\" " + what, {}, hint);
}

std::string to_hex(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	std::string out;
	for (size_t i = 0; i < n; i++) {
		out += digits[p[i] >> 4];
		out += digits[p[i] & 15];
	}
	return out;
}

int hex_value(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

// Closes a file descriptor when it goes out of scope.
struct Fd {
	int fd;
	~Fd() { if (fd >= 0) close(fd); }
};

// Writes a new random key to a file of its own, then links it into place:
// link() fails when the key file exists, so of two sessions creating it at
// once one key wins, and no reader ever sees a file that is not complete.
void create_key_file(const std::string &path)
{
	std::string temp = path + ".new." + std::to_string(getpid());
	unlink(temp.c_str()); // left by a process of this pid that died mid-way
	{
		Fd f{open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600)};
		if (f.fd < 0)
			key_file_error(path, std::string("could not be created: ") + strerror(errno));
		SealKey key;
		if (RAND_bytes(key.data(), key.size()) != 1) {
			unlink(temp.c_str());
			crypto_failure("generate a random key");
		}
		std::string text = to_hex(key.data(), key.size()) + "\n";
		if (write(f.fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || fsync(f.fd) != 0) {
			int saved = errno;
			unlink(temp.c_str());
			key_file_error(path, std::string("could not be written: ") + strerror(saved));
		}
	}
	int rc = link(temp.c_str(), path.c_str());
	int saved = errno;
	unlink(temp.c_str());
	if (rc != 0 && saved != EEXIST) // EEXIST: another session's key won; read it
		key_file_error(path, std::string("could not be created: ") + strerror(saved));
	// the new name must survive a crash, as the configurations sealed with it will
	std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
	Fd d{open(dir.c_str(), O_RDONLY | O_DIRECTORY)};
	if (d.fd < 0 || fsync(d.fd) != 0)
		key_file_error(path, std::string("could not be made durable: ") + strerror(errno));
}

} // namespace

SealKey load_or_create_key(const std::string &path)
{
	if (path.empty())
		key_file_error(path, "is not set", "Set sunsync.key_file.");
	if (access(path.c_str(), F_OK) != 0 && errno == ENOENT)
		create_key_file(path);
	return load_key(path);
}

SealKey load_key(const std::string &path)
{
	if (path.empty())
		key_file_error(path, "is not set", "Set sunsync.key_file.");
	Fd f{open(path.c_str(), O_RDONLY)};
	if (f.fd < 0 && errno == ENOENT)
		key_file_error(path, "does not exist: the sealed target URLs cannot be opened",
					   "Restore the key file from a backup of the data directory, or set each "
					   "configuration's target URL again with sunsync_update_config.");
	if (f.fd < 0)
		key_file_error(path, std::string("could not be opened: ") + strerror(errno));
	struct stat st;
	if (fstat(f.fd, &st) != 0)
		key_file_error(path, std::string("could not be read: ") + strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		key_file_error(path, "has group or world access",
					   "The key file must be readable by the server's owner only: chmod 0600.");
	char buf[130] = {};
	ssize_t n = read(f.fd, buf, sizeof buf - 1);
	std::string text(buf, n > 0 ? n : 0);
	while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
		text.pop_back();
	SealKey key;
	if (text.size() != key.size() * 2)
		key_file_error(path, "does not hold a key", "It must contain 64 hexadecimal digits.");
	for (size_t i = 0; i < key.size(); i++) {
		int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			key_file_error(path, "does not hold a key", "It must contain 64 hexadecimal digits.");
		key[i] = static_cast<unsigned char>(hi * 16 + lo);
	}
	return key;
}

std::string seal(const SealKey &key, const std::string &plaintext, const std::string &aad)
{
	unsigned char nonce[nonce_len];
	if (RAND_bytes(nonce, sizeof nonce) != 1)
		crypto_failure("generate a nonce");
	CipherCtx ctx = new_ctx();
	std::string ciphertext(plaintext.size(), '\0');
	unsigned char tag[tag_len];
	int len = 0;
	auto *out = reinterpret_cast<unsigned char *>(ciphertext.data());
	if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
		EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char *>(aad.data()), aad.size()) != 1 ||
		EVP_EncryptUpdate(ctx.get(), out, &len, reinterpret_cast<const unsigned char *>(plaintext.data()), plaintext.size()) != 1 ||
		EVP_EncryptFinal_ex(ctx.get(), out + len, &len) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_len, tag) != 1)
		crypto_failure("seal credentials");
	std::string sealed(1, static_cast<char>(version));
	sealed.append(reinterpret_cast<char *>(nonce), nonce_len);
	sealed.append(reinterpret_cast<char *>(tag), tag_len);
	return sealed + ciphertext;
}

std::string unseal(const SealKey &key, const std::string &sealed, const std::string &aad)
{
	if (sealed.size() < header_len || static_cast<unsigned char>(sealed[0]) != version)
		throw Error(sqlstate::invalid_parameter_value, "sealed credentials are damaged");
	const auto *raw = reinterpret_cast<const unsigned char *>(sealed.data());
	const unsigned char *nonce = raw + 1, *tag = raw + 1 + nonce_len, *body = raw + header_len;
	size_t body_len = sealed.size() - header_len;
	CipherCtx ctx = new_ctx();
	std::string plaintext(body_len, '\0');
	auto *out = reinterpret_cast<unsigned char *>(plaintext.data());
	int len = 0;
	if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
		EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char *>(aad.data()), aad.size()) != 1 ||
		EVP_DecryptUpdate(ctx.get(), out, &len, body, body_len) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_len, const_cast<unsigned char *>(tag)) != 1 ||
		EVP_DecryptFinal_ex(ctx.get(), out + len, &len) != 1)
		throw Error(sqlstate::invalid_parameter_value,
					"sealed credentials could not be opened",
					"They were sealed with another key, or altered.",
					"Check sunsync.key_file, or set the target URL again with sunsync_update_config.");
	return plaintext;
}

} // namespace sunsync
