#include "scope/path.hpp"

#include "common/error.hpp"

namespace sunsync::scope {

namespace {

// Deep chains of unregistered tables are unusual; the limits keep a
// pathological schema from exploding the search.
constexpr size_t max_hops = 32;
constexpr size_t max_paths = 64;

std::string columns_text(const std::string &table, const std::vector<std::string> &cols)
{
	if (cols.size() == 1)
		return table + "." + cols[0];
	std::string out = table + ".(";
	for (size_t i = 0; i < cols.size(); i++)
		out += (i ? ", " : "") + cols[i];
	return out + ")";
}

// Every complete path from table to the root, not passing through `visiting`.
void complete_paths(const Graph &g, const std::string &table, std::set<std::string> &visiting,
					Path &prefix, std::vector<Path> &out)
{
	if (out.size() >= max_paths)
		return;
	if (table == g.root) {
		out.push_back(prefix);
		return;
	}
	auto reg = g.registered.find(table);
	if (reg != g.registered.end()) {
		Path p = prefix;
		p.insert(p.end(), reg->second.begin(), reg->second.end());
		out.push_back(p);
		return;
	}
	if (prefix.size() >= max_hops)
		return;
	auto links = g.links.find(table);
	if (links == g.links.end())
		return;
	visiting.insert(table);
	for (const Link &l : links->second) {
		if (visiting.count(l.parent))
			continue;
		prefix.push_back(l);
		complete_paths(g, l.parent, visiting, prefix, out);
		prefix.pop_back();
	}
	visiting.erase(table);
}

} // namespace

std::string Link::describe() const
{
	return columns_text(child, child_columns) + " -> " + columns_text(parent, parent_columns) +
		   (text_compare ? " (as text)" : "");
}

bool Link::operator==(const Link &o) const
{
	return name == o.name && child == o.child && child_columns == o.child_columns &&
		   parent == o.parent && parent_columns == o.parent_columns && declared == o.declared &&
		   text_compare == o.text_compare;
}

std::string describe_path(const Path &path)
{
	std::string out;
	for (const Link &l : path)
		out += (out.empty() ? "" : ", ") + l.describe();
	return out;
}

Path derive_path(const Graph &g, const std::string &table, const std::optional<Link> &first_hop)
{
	if (table == g.root)
		return {};
	std::vector<Link> candidates;
	if (first_hop)
		candidates.push_back(*first_hop);
	else if (auto it = g.links.find(table); it != g.links.end())
		candidates = it->second;

	std::vector<std::pair<Link, std::vector<Path>>> found; // first hop -> its paths
	for (const Link &l : candidates) {
		if (l.parent == table && l.parent != g.root)
			continue; // a self-reference never leads anywhere new
		std::set<std::string> visiting{table};
		Path prefix{l};
		std::vector<Path> paths;
		complete_paths(g, l.parent, visiting, prefix, paths);
		if (!paths.empty())
			found.emplace_back(l, paths);
	}

	if (found.empty()) {
		if (first_hop)
			throw Error(sqlstate::invalid_object_definition,
						"table " + table + " has no path to the root table " + g.root +
							" through " + first_hop->describe(),
						"Table " + first_hop->parent + " does not lead to " + g.root + ".",
						"Register " + first_hop->parent + " first, or choose another link.");
		std::string detail = candidates.empty()
								 ? "It has no foreign key."
								 : "None of its foreign keys leads to " + g.root + ".";
		throw Error(sqlstate::invalid_object_definition,
					"table " + table + " has no path to the root table " + g.root, detail,
					"Add a foreign key, or declare the link with via => 'column -> " +
						g.root + "(column)'.");
	}
	if (found.size() > 1) {
		std::string detail = "Candidates: ";
		for (size_t i = 0; i < found.size(); i++)
			detail += (i ? "; " : "") + found[i].first.name + " (" +
					  describe_path(found[i].second.front()) + ")";
		throw Error(sqlstate::ambiguous_column,
					"table " + table + " has more than one path to the root table " + g.root,
					detail + ".",
					"Choose one with via => '" + found.front().first.name + "'.");
	}
	const auto &paths = found.front().second;
	if (paths.size() > 1) {
		const Link &hop = found.front().first;
		throw Error(sqlstate::ambiguous_column,
					"table " + table + " reaches the root table " + g.root +
						" through " + hop.parent + " in more than one way",
					"Paths: " + describe_path(paths[0]) + "; " + describe_path(paths[1]) + ".",
					"Register " + hop.parent + " first, choosing its path with via.");
	}
	return paths.front();
}

std::vector<std::string> order_parents_first(const std::string &root,
											 const std::set<std::string> &tables,
											 const std::multimap<std::string, std::string> &parent_of)
{
	std::vector<std::string> order;
	std::set<std::string> placed, left(tables);
	if (left.erase(root)) {
		order.push_back(root);
		placed.insert(root);
	}
	auto ready = [&](const std::string &t) {
		auto range = parent_of.equal_range(t);
		for (auto it = range.first; it != range.second; ++it)
			if (it->second != t && tables.count(it->second) && !placed.count(it->second))
				return false;
		return true;
	};
	while (!left.empty()) {
		auto next = left.end();
		for (auto it = left.begin(); it != left.end(); ++it)
			if (ready(*it)) {
				next = it;
				break;
			}
		if (next == left.end()) // a cycle: take the first by name
			next = left.begin();
		order.push_back(*next);
		placed.insert(*next);
		left.erase(next);
	}
	return order;
}

} // namespace sunsync::scope
