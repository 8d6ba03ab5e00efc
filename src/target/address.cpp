#include "target/address.hpp"

#include "common/error.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>

namespace sunsync {

namespace {

AddressClass classify_v4(uint32_t a)
{
	auto in = [a](uint32_t net, int bits) {
		uint32_t mask = bits == 0 ? 0 : ~uint32_t(0) << (32 - bits);
		return (a & mask) == net;
	};
	if (in(0x7f000000, 8))
		return AddressClass::Loopback;
	if (in(0x00000000, 8))
		return AddressClass::Unspecified;
	if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16) ||
		in(0x64400000, 10)) // 100.64/10: carrier-grade NAT, private in practice
		return AddressClass::Private;
	if (in(0xa9fe0000, 16))
		return AddressClass::LinkLocal;
	if (in(0xe0000000, 4))
		return AddressClass::Multicast;
	if (in(0xf0000000, 4)) // 240/4 and the broadcast address
		return AddressClass::Reserved;
	return AddressClass::Public;
}

AddressClass classify_v6(const unsigned char *b)
{
	static const unsigned char zero[16] = {};
	static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64_prefix[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	if (std::memcmp(b, zero, 15) == 0 && b[15] == 1)
		return AddressClass::Loopback;
	if (std::memcmp(b, zero, 16) == 0)
		return AddressClass::Unspecified;
	// Addresses that carry an IPv4 address are judged by it.
	if (std::memcmp(b, mapped_prefix, 12) == 0 || std::memcmp(b, nat64_prefix, 12) == 0 ||
		std::memcmp(b, zero, 12) == 0) {
		uint32_t v4 = (uint32_t(b[12]) << 24) | (uint32_t(b[13]) << 16) |
					  (uint32_t(b[14]) << 8) | uint32_t(b[15]);
		return classify_v4(v4);
	}
	if ((b[0] & 0xfe) == 0xfc)
		return AddressClass::Private; // fc00::/7 unique local
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return AddressClass::LinkLocal; // fe80::/10
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return AddressClass::Private; // fec0::/10, deprecated site-local
	if (b[0] == 0xff)
		return AddressClass::Multicast;
	return AddressClass::Public;
}

} // namespace

AddressClass classify_address(const std::string &ip)
{
	in_addr v4;
	in6_addr v6;
	if (inet_pton(AF_INET, ip.c_str(), &v4) == 1)
		return classify_v4(ntohl(v4.s_addr));
	std::string bare = ip.substr(0, ip.find('%')); // drop an IPv6 zone id
	if (inet_pton(AF_INET6, bare.c_str(), &v6) == 1)
		return classify_v6(v6.s6_addr);
	return AddressClass::Invalid;
}

const char *address_class_phrase(AddressClass c)
{
	switch (c) {
	case AddressClass::Public: return "a public address";
	case AddressClass::Loopback: return "a loopback address";
	case AddressClass::Private: return "a private address";
	case AddressClass::LinkLocal: return "a link-local address";
	case AddressClass::Unspecified: return "an unspecified address";
	case AddressClass::Multicast: return "a multicast address";
	case AddressClass::Reserved: return "a reserved address";
	case AddressClass::Invalid: return "not an address";
	}
	return "an unknown kind of address";
}

namespace {

// One lookup in flight.  When the caller abandons it, glibc's helper thread
// still writes into it later, so it is then leaked on purpose, never freed.
struct Lookup {
	std::string name;
	addrinfo hints{};
	gaicb request{};
};

std::vector<std::string> numeric_addresses(const addrinfo *list)
{
	std::vector<std::string> out;
	for (const addrinfo *ai = list; ai; ai = ai->ai_next) {
		char buf[INET6_ADDRSTRLEN] = {};
		const void *addr = ai->ai_family == AF_INET
							   ? static_cast<const void *>(&reinterpret_cast<sockaddr_in *>(ai->ai_addr)->sin_addr)
							   : static_cast<const void *>(&reinterpret_cast<sockaddr_in6 *>(ai->ai_addr)->sin6_addr);
		if (inet_ntop(ai->ai_family, addr, buf, sizeof buf))
			out.emplace_back(buf);
	}
	return out;
}

[[noreturn]] void unresolved(const std::string &host, const std::string &why)
{
	throw Error(sqlstate::invalid_parameter_value, "could not resolve target host \"" + host + "\"",
				why, "Check the host name in the target URL.");
}

} // namespace

std::vector<std::string> resolve_host(const std::string &host, const ResolveWait &wait, int timeout_ms)
{
	auto lookup = std::make_unique<Lookup>();
	lookup->name = host;
	lookup->hints.ai_family = AF_UNSPEC;
	lookup->hints.ai_socktype = SOCK_STREAM;
	lookup->request.ar_name = lookup->name.c_str();
	lookup->request.ar_request = &lookup->hints;
	gaicb *requests[1] = {&lookup->request};
	if (int rc = getaddrinfo_a(GAI_NOWAIT, requests, 1, nullptr); rc != 0)
		unresolved(host, gai_strerror(rc));

	auto started = std::chrono::steady_clock::now();
	int status;
	while ((status = gai_error(&lookup->request)) == EAI_INPROGRESS) {
		bool timed_out = timeout_ms > 0 && std::chrono::steady_clock::now() - started >
												std::chrono::milliseconds(timeout_ms);
		try {
			if (timed_out)
				unresolved(host, "The lookup did not finish within " + std::to_string(timeout_ms) + " ms.");
			if (wait)
				wait();
			else
				std::this_thread::sleep_for(std::chrono::milliseconds(10));
		} catch (...) {
			if (gai_cancel(&lookup->request) != EAI_CANCELED)
				lookup.release(); // still in use by the resolver's thread
			throw;
		}
	}
	if (status != 0)
		unresolved(host, gai_strerror(status));
	std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(lookup->request.ar_result, freeaddrinfo);
	return numeric_addresses(list.get());
}

} // namespace sunsync
