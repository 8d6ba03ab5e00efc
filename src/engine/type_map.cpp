#include "engine/type_map.hpp"

#include "pg/guard.hpp"
#include "pg/relation_names.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_range.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

namespace sunsync::engine {

namespace {

// What PostgreSQL says about a type, gathered before any C++ object is built.
struct TypeFacts {
	Oid base = InvalidOid;
	int32 mod = -1;
	char kind = 0;
	Oid elem = InvalidOid, elem_base = InvalidOid;
	int32 elem_mod = -1;
	bool has_send = false;
	Oid relid = InvalidOid;    // composite
	Oid subtype = InvalidOid;  // range
	const char *sql = nullptr; // format_type of a built-in or other type
};

TypeFacts facts_of(Oid type, int32 typmod)
{
	TypeFacts f;
	pg::guard([&] {
		f.mod = typmod;
		f.base = getBaseTypeAndTypmod(type, &f.mod); // a domain lands as its base type
		HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(f.base));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for type %u", f.base);
		auto *form = reinterpret_cast<Form_pg_type>(GETSTRUCT(tup));
		f.kind = form->typtype;
		f.has_send = OidIsValid(form->typsend);
		f.relid = form->typrelid;
		ReleaseSysCache(tup);
		f.elem = get_element_type(f.base);
		if (OidIsValid(f.elem))
			f.elem_base = getBaseTypeAndTypmod(f.elem, &f.elem_mod);
		if (f.kind == TYPTYPE_RANGE)
			f.subtype = get_range_subtype(f.base);
		f.sql = format_type_with_typemod(f.base, f.mod);
	});
	return f;
}

} // namespace

void TypeMap::type_schema_and_name(Oid type, std::string &schema, std::string &name)
{
	const char *nsp = nullptr, *typname = nullptr;
	pg::guard([&] {
		HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for type %u", type);
		auto *form = reinterpret_cast<Form_pg_type>(GETSTRUCT(tup));
		typname = pstrdup(NameStr(form->typname));
		Oid nspid = form->typnamespace;
		ReleaseSysCache(tup);
		nsp = target_schema_.empty() ? pg::namespace_name_or_error(nspid) : nullptr;
	});
	schema = nsp ? nsp : target_schema_;
	name = typname;
}

std::string TypeMap::qualified_target_name(Oid type)
{
	std::string schema, name;
	type_schema_and_name(type, schema, name);
	const char *q_schema = nullptr, *q_name = nullptr;
	pg::guard([&] {
		q_schema = quote_identifier(schema.c_str());
		q_name = quote_identifier(name.c_str());
	});
	return std::string(q_schema) + "." + q_name;
}

TargetType TypeMap::map(Oid type, int32 typmod)
{
	TypeFacts f = facts_of(type, typmod);
	for (Oid t : {type, f.base, f.elem})
		if (t >= FirstNormalObjectId)
			user_types.insert(t);
	if (f.base >= FirstNormalObjectId && f.kind == TYPTYPE_COMPOSITE)
		type_relations.insert(f.relid);
	if (OidIsValid(f.elem)) {
		// an array: its binary form names the element type, which must be a
		// built-in type and not a domain for the target to read it
		TargetType inner = map(f.elem_base, f.elem_mod);
		bool builtin_elem = f.elem == f.elem_base && f.elem < FirstNormalObjectId;
		return {inner.sql + "[]", inner.binary_ok && f.has_send && builtin_elem};
	}
	bool user_type = f.base >= FirstNormalObjectId;
	if (f.kind == TYPTYPE_ENUM) {
		if (auto it = mapped_.find(f.base); it != mapped_.end())
			return {it->second, true};
		std::string sql = qualified_target_name(f.base);
		mapped_[f.base] = sql;
		EnumSpec e; // labels: filled in by the caller, in the source's order
		type_schema_and_name(f.base, e.schema, e.name);
		enums[f.base] = e;
		return {sql, true};
	}
	if (user_type && (f.kind == TYPTYPE_COMPOSITE || f.kind == TYPTYPE_RANGE)) {
		if (auto it = mapped_.find(f.base); it != mapped_.end())
			return {it->second, false};
		std::string sql = qualified_target_name(f.base);
		mapped_[f.base] = sql; // before the fields: a type cannot contain itself, but be safe
		TypeSpec t;
		t.kind = f.kind;
		type_schema_and_name(f.base, t.schema, t.name);
		if (f.kind == TYPTYPE_RANGE)
			t.subtype_sql = map(f.subtype, -1).sql;
		else {
			struct Field {
				const char *name;
				Oid type;
				int32 mod;
			};
			std::vector<Field> fields;
			int natts = 0;
			pg::guard([&] {
				TupleDesc desc = lookup_rowtype_tupdesc(f.base, -1);
				natts = desc->natts;
				Field *out = static_cast<Field *>(palloc0(sizeof(Field) * (natts + 1)));
				for (int i = 0; i < natts; i++) {
					Form_pg_attribute a = TupleDescAttr(desc, i);
					out[i] = {a->attisdropped ? nullptr : pstrdup(NameStr(a->attname)), a->atttypid, a->atttypmod};
				}
				ReleaseTupleDesc(desc);
				fields.assign(out, out + natts);
			});
			for (const Field &fd : fields)
				if (fd.name)
					t.fields.emplace_back(fd.name, map(fd.type, fd.mod).sql);
		}
		types.push_back(std::move(t)); // after the types its fields need
		return {sql, false};
	}
	return {f.sql, f.has_send && !user_type};
}

} // namespace sunsync::engine
