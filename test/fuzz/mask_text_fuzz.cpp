// libFuzzer target: the password masking of free text bound for the server
// log and pg_stat_activity.  Besides crashes: the cheap pre-check must never
// say "nothing to hide" of a text that masking changes.
#include "common/mask_text.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view text(reinterpret_cast<const char *>(data), size);
	std::string masked = sunsync::mask_passwords(text);
	if (!sunsync::may_hold_password(text) && masked != text)
		std::abort();
	(void) sunsync::mask_passwords(masked);
	return 0;
}
