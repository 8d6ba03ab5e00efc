#include "target/address.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

using namespace sunsync;

struct Case {
	const char *ip;
	AddressClass expected;
};

// Shown by name in test output (not as raw bytes).
void PrintTo(const Case &c, std::ostream *os) { *os << c.ip; }

class Classify : public ::testing::TestWithParam<Case> {};

TEST_P(Classify, Address)
{
	EXPECT_EQ(classify_address(GetParam().ip), GetParam().expected) << GetParam().ip;
}

INSTANTIATE_TEST_SUITE_P(
	Addresses, Classify,
	::testing::Values(
		Case{"127.0.0.1", AddressClass::Loopback}, Case{"127.255.1.2", AddressClass::Loopback},
		Case{"::1", AddressClass::Loopback}, Case{"::ffff:127.0.0.1", AddressClass::Loopback},
		Case{"10.1.2.3", AddressClass::Private}, Case{"172.16.0.1", AddressClass::Private},
		Case{"172.31.255.255", AddressClass::Private}, Case{"172.32.0.1", AddressClass::Public},
		Case{"192.168.1.1", AddressClass::Private}, Case{"100.64.0.1", AddressClass::Private},
		Case{"fd00::1", AddressClass::Private}, Case{"::ffff:10.0.0.1", AddressClass::Private},
		Case{"169.254.169.254", AddressClass::LinkLocal}, Case{"fe80::1", AddressClass::LinkLocal},
		Case{"fe80::1%eth0", AddressClass::LinkLocal}, Case{"0.0.0.0", AddressClass::Unspecified},
		Case{"::", AddressClass::Unspecified}, Case{"224.0.0.1", AddressClass::Multicast},
		Case{"ff02::1", AddressClass::Multicast}, Case{"255.255.255.255", AddressClass::Reserved},
		Case{"8.8.8.8", AddressClass::Public}, Case{"203.0.113.7", AddressClass::Public},
		Case{"2001:db8::1", AddressClass::Public}, Case{"64:ff9b::a00:1", AddressClass::Private},
		Case{"db.example.com", AddressClass::Invalid}, Case{"", AddressClass::Invalid}),
	[](const ::testing::TestParamInfo<Case> &info) {
		std::string name = std::to_string(info.index) + "_";
		for (const char *p = info.param.ip; *p; p++)
			name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
		return name;
	});

TEST(ResolveHost, LocalhostResolvesToLoopback)
{
	auto addrs = resolve_host("localhost");
	ASSERT_FALSE(addrs.empty());
	for (const auto &a : addrs)
		EXPECT_EQ(classify_address(a), AddressClass::Loopback) << a;
}

TEST(ResolveHost, UnknownNameThrows)
{
	EXPECT_ANY_THROW(resolve_host("no-such-host.invalid"));
}
