// How a source column's type is written on the target, and which of the
// source's own types the target needs: enums, composite types and range
// types are created there (in the target schema when the config names one),
// with their dependencies first; a domain lands as its base type, an array
// of a domain as an array of the base type.  Values of types whose binary
// form names a source OID (arrays of non-built-in elements, composites) or
// that have no send function travel as COPY text.
#pragma once

#include "pg/postgres.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace sunsync::engine {

struct EnumSpec {
	std::string schema, name; // on the target
	std::vector<std::string> labels;
};

// A composite ('c') or range ('r') type of the source, as the target gets it.
struct TypeSpec {
	char kind = 0;
	std::string schema, name;                                // on the target
	std::vector<std::pair<std::string, std::string>> fields; // composite: name, type_sql
	std::string subtype_sql;                                 // range
};

struct TargetType {
	std::string sql;
	bool binary_ok = true;
};

class TypeMap {
public:
	explicit TypeMap(std::string target_schema) : target_schema_(std::move(target_schema)) {}

	// The target's type for a column of type (typmod); records the user
	// types it needs.
	TargetType map(Oid type, int32 typmod);

	std::map<Oid, EnumSpec> enums; // labels left for the caller to read
	std::vector<TypeSpec> types; // dependencies before the types that use them
	// every user-defined type met (domains and array types included), and
	// the relation of each composite one: what a mapping depends on
	std::set<Oid> user_types, type_relations;

private:
	std::string qualified_target_name(Oid type);
	void type_schema_and_name(Oid type, std::string &schema, std::string &name);
	std::string target_schema_;
	std::map<Oid, std::string> mapped_; // user types already recorded, by name
};

} // namespace sunsync::engine
