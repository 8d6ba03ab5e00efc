# Throwaway PostgreSQL clusters for the demo and the tests.  Source this file.
#   cluster_start NAME PORT [AUTH] [CONF_LINE...]   initdb + start (AUTH: trust|scram-sha-256)
#   cluster_psql NAME [psql args...]                psql as the postgres superuser
#   cluster_stop NAME                               stop and remove
# Servers listen on 127.0.0.1 only, with their sockets in the cluster folder.
# As root, everything runs as the postgres account (PostgreSQL refuses root).

PGBIN=${PGBIN:-$(pg_config --bindir)}
SUNSYNC_CLUSTERS=${SUNSYNC_CLUSTERS:-/tmp/sunsync-clusters}

as_postgres() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cluster_dir() { echo "$SUNSYNC_CLUSTERS/$1"; }

cluster_port() { cat "$(cluster_dir "$1")/port"; }

cluster_start() {
	local name=$1 port=$2 auth=${3:-trust}
	shift 3 2>/dev/null || shift $#
	local dir; dir=$(cluster_dir "$name")
	cluster_stop "$name" 2>/dev/null
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$SUNSYNC_CLUSTERS" "$dir"
	echo "$port" > "$dir/port"
	as_postgres "$PGBIN/initdb" -D "$dir/data" -U postgres --auth-local=trust \
		--auth-host="$auth" --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		for line in "$@"; do echo "$line"; done
	} >> "$dir/data/postgresql.conf"
	as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
		|| { cat "$dir/server.log"; return 1; }
}

cluster_psql() {
	local name=$1; shift
	local dir; dir=$(cluster_dir "$name")
	as_postgres "$PGBIN/psql" -X -h "$dir" -p "$(cluster_port "$name")" -U postgres -v ON_ERROR_STOP=1 "$@"
}

cluster_log() { cat "$(cluster_dir "$1")/server.log"; }

cluster_stop() {
	local dir; dir=$(cluster_dir "$1")
	[ -d "$dir/data" ] && as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$dir"
}
