// libFuzzer target: address classification (what the URL rules decide a
// resolved or literal address is: loopback, private, link-local, ...).
#include "target/address.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string text(reinterpret_cast<const char *>(data), size);
	sunsync::AddressClass c = sunsync::classify_address(text);
	if (sunsync::address_class_phrase(c) == nullptr)
		std::abort();
	return 0;
}
