// The one exception type sunsync code throws.  It carries what an ereport
// carries (SQLSTATE, message, detail, hint, context) so that an error raised by
// PostgreSQL, turned into an exception by the guard and reported again at the
// SQL entry point, reaches the client unchanged.
//
// Server-free on purpose: unit tests build it without PostgreSQL headers, so
// the SQLSTATE is kept as its five-character text ("22023").
#pragma once

#include <stdexcept>
#include <string>

namespace sunsync {

class Error : public std::runtime_error {
public:
	Error(std::string sqlstate, std::string message, std::string detail = {},
		  std::string hint = {}, std::string context = {})
		: std::runtime_error(message), sqlstate_(std::move(sqlstate)),
		  detail_(std::move(detail)), hint_(std::move(hint)),
		  context_(std::move(context))
	{
	}

	const std::string &sqlstate() const { return sqlstate_; }
	std::string message() const { return what(); }
	const std::string &detail() const { return detail_; }
	const std::string &hint() const { return hint_; }
	const std::string &context() const { return context_; }

private:
	std::string sqlstate_;
	std::string detail_;
	std::string hint_;
	std::string context_;
};

// SQLSTATEs used by server-free code (names as in PostgreSQL's errcodes.txt).
namespace sqlstate {
inline constexpr const char *invalid_parameter_value = "22023";
inline constexpr const char *invalid_text_representation = "22P02";
inline constexpr const char *insufficient_privilege = "42501";
inline constexpr const char *undefined_column = "42703";
inline constexpr const char *undefined_object = "42704";
inline constexpr const char *invalid_object_definition = "42P17";
inline constexpr const char *ambiguous_column = "42702";
inline constexpr const char *object_not_in_prerequisite_state = "55000";
inline constexpr const char *config_file_error = "F0000";
inline constexpr const char *internal_error = "XX000";
inline constexpr const char *io_error = "58030";
inline constexpr const char *feature_not_supported = "0A000";
inline constexpr const char *no_data_found = "P0002";
} // namespace sqlstate

} // namespace sunsync
