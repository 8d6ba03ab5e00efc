// Sealed credentials: AES-256-GCM (OpenSSL EVP) under a key kept in a file of
// the server, created with mode 0600 on first use.
//
// A sealed value is: version byte (1) | 12-byte nonce | 16-byte tag | ciphertext.
// The associated data binds it to the row it belongs to, so a sealed URL
// copied into another configuration does not open.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace sunsync {

using SealKey = std::array<unsigned char, 32>;

// Reads the key file; creates it (0600, random key) when it does not exist.
// Refuses a file that others may read or that does not hold a key.
// For sealing (a new configuration or URL) only.
SealKey load_or_create_key(const std::string &path);
// For unsealing: a missing key file is an error, never a new key (which
// could open nothing that was sealed before).
SealKey load_key(const std::string &path);

std::string seal(const SealKey &key, const std::string &plaintext, const std::string &aad);
// Throws sunsync::Error when the value was not sealed with this key and aad.
std::string unseal(const SealKey &key, const std::string &sealed, const std::string &aad);

} // namespace sunsync
