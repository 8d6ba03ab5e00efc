# PGXS build of the sunsync extension (C++17).
EXTENSION = sunsync
MODULE_big = sunsync
DATA = extension/sunsync--0.1.sql extension/sunsync--0.2.sql extension/sunsync--0.1--0.2.sql
PGFILEDESC = "sunsync - per-tenant push replication"

SRCS := $(sort $(wildcard src/*.cpp src/*/*.cpp))
OBJS = $(SRCS:.cpp=.o)

# -isystem: warnings are for our code, not for the server headers.
PG_CPPFLAGS = -Isrc -isystem $(shell $(PG_CONFIG) --includedir-server) -isystem $(shell $(PG_CONFIG) --includedir)
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Wno-missing-field-initializers
SHLIB_LINK = -L$(shell $(PG_CONFIG) --libdir) -lpq -lcrypto -lstdc++

# pg_regress suites: run through scripts/test.sh, which starts its own
# server (--temp-instance) with the library preloaded.
REGRESS = bridge settings scope config capture capture_rows
REGRESS_OPTS = --temp-instance=./tmp_check --temp-config=./test/regress.conf

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not pass PG_CXXFLAGS to clang when it emits JIT bitcode.
override BITCODE_CXXFLAGS += -std=c++17 -Wno-ignored-attributes

EXTRA_CLEAN = tmp_check results regression.diffs regression.out build

# Rebuild every object when any header changes (PGXS tracks no C++ headers).
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*.hpp src/*/*.hpp)
