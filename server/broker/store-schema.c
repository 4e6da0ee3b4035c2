/*
 * vmgate — the store's schema: its migrations, one array per back end, side
 * by side, so that the same version means the same tables everywhere.
 *
 * Migration i takes the schema from version i to i + 1. Never edit one that
 * has been released: append a new one to every array.
 */
#include "store-priv.h"

/*
 * SQLite: foreign keys are off while migrations run (so a migration may
 * rebuild a table the way SQLite documents) and checked afterwards.
 */
const char *const vg_store_sqlite_migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  nt_hash TEXT,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))"
    ");"
    "CREATE TABLE vms ("
    "  name TEXT PRIMARY KEY,"
    "  uuid TEXT UNIQUE"
    ");"
    "CREATE TABLE assignments ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  vm TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'controller', 'observer')),"
    "  PRIMARY KEY (user_id, vm)"
    ");"
    "CREATE INDEX assignments_vm ON assignments(vm);"
    "CREATE TABLE pools ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  idle_action TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (idle_action IN ('none', 'shutdown', 'suspend')),"
    "  idle_minutes INTEGER NOT NULL DEFAULT 0 CHECK (idle_minutes >= 0),"
    "  assign_on_first_login INTEGER NOT NULL DEFAULT 0"
    "    CHECK (assign_on_first_login IN (0, 1))"
    ");"
    "CREATE TABLE pool_members ("
    "  pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
    "  vm TEXT NOT NULL UNIQUE,"
    "  PRIMARY KEY (pool_id, vm)"
    ");"
    "CREATE TABLE entitlements ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (user_id, pool_id)"
    ");"
    "CREATE INDEX entitlements_pool ON entitlements(pool_id);"
    "CREATE TABLE sticky ("
    "  pool_id INTEGER NOT NULL,"
    "  vm TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (pool_id, vm),"
    "  UNIQUE (pool_id, user_id),"
    "  FOREIGN KEY (pool_id, vm) REFERENCES pool_members(pool_id, vm) ON DELETE CASCADE"
    ");"
    "CREATE INDEX sticky_user ON sticky(user_id);",
    /*
     * 2: instances and where each VM is. Times are milliseconds since the
     * epoch by the database's clock (vg_now_ms(), which store-sqlite.c
     * registers on each connection), never by an instance's own.
     */
    "CREATE TABLE instances ("
    "  name TEXT PRIMARY KEY,"
    "  address TEXT NOT NULL,"
    "  vnc_port INTEGER NOT NULL CHECK (vnc_port BETWEEN 0 AND 65535),"
    "  rdp_port INTEGER NOT NULL CHECK (rdp_port BETWEEN 0 AND 65535),"
    "  web_port INTEGER NOT NULL CHECK (web_port BETWEEN 0 AND 65535),"
    "  started INTEGER NOT NULL,"
    "  heartbeat INTEGER NOT NULL,"
    "  stopped INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1))"
    ");"
    "CREATE TABLE placements ("
    "  vm TEXT PRIMARY KEY,"
    "  instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
    "  state TEXT NOT NULL,"
    "  updated INTEGER NOT NULL"
    ");"
    "CREATE INDEX placements_instance ON placements(instance);",
    /*
     * 3: redirection grants: an entrance instance lets @user in on @instance
     * for @vm once, before @expires, with a secret whose NT hash is kept.
     */
    "CREATE TABLE grants ("
    "  id TEXT PRIMARY KEY,"
    "  user_name TEXT NOT NULL,"
    "  vm TEXT NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  secret_hash TEXT NOT NULL,"
    "  expires INTEGER NOT NULL"
    ");",
    /*
     * 4: the audit log the instances share: each record as its instance
     * wrote it to its own file (the JSON text), its event, and when the
     * store took it (vg_now_ms()). Not tied to instances: a record outlives
     * its instance's row.
     */
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  record TEXT NOT NULL"
    ");"
    "CREATE INDEX audit_at ON audit(at, id);",
    /*
     * 5: each instance's live viewers, as its heartbeat last wrote them
     * (ids are the instance's own, unique within it). Gone with the
     * instance's row; cleared when it registers and when it stops.
     */
    "CREATE TABLE viewers ("
    "  instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
    "  id TEXT NOT NULL,"
    "  session TEXT NOT NULL,"
    "  vm TEXT NOT NULL,"
    "  user_name TEXT NOT NULL,"
    "  protocol TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'controller', 'observer')),"
    "  address TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  PRIMARY KEY (instance, id)"
    ");"
    "CREATE INDEX viewers_user ON viewers(user_name);",
};

/*
 * PostgreSQL: the same tables, constraints and names. Identities for the
 * row ids SQLite keeps in INTEGER PRIMARY KEY; 64-bit times; every name
 * compared and sorted by its bytes (COLLATE "C"), as SQLite does, whatever
 * the database's own collation.
 */
const char *const vg_store_pg_migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE users ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  name TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  nt_hash TEXT,"
    "  created BIGINT NOT NULL,"
    "  updated BIGINT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))"
    ");"
    "CREATE TABLE vms ("
    "  name TEXT COLLATE \"C\" PRIMARY KEY,"
    "  uuid TEXT COLLATE \"C\" UNIQUE"
    ");"
    "CREATE TABLE assignments ("
    "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  vm TEXT COLLATE \"C\" NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'controller', 'observer')),"
    "  PRIMARY KEY (user_id, vm)"
    ");"
    "CREATE INDEX assignments_vm ON assignments(vm);"
    "CREATE TABLE pools ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  name TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    "  idle_action TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (idle_action IN ('none', 'shutdown', 'suspend')),"
    "  idle_minutes INTEGER NOT NULL DEFAULT 0 CHECK (idle_minutes >= 0),"
    "  assign_on_first_login INTEGER NOT NULL DEFAULT 0"
    "    CHECK (assign_on_first_login IN (0, 1))"
    ");"
    "CREATE TABLE pool_members ("
    "  pool_id BIGINT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
    "  vm TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    "  PRIMARY KEY (pool_id, vm)"
    ");"
    "CREATE TABLE entitlements ("
    "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  pool_id BIGINT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (user_id, pool_id)"
    ");"
    "CREATE INDEX entitlements_pool ON entitlements(pool_id);"
    "CREATE TABLE sticky ("
    "  pool_id BIGINT NOT NULL,"
    "  vm TEXT COLLATE \"C\" NOT NULL,"
    "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (pool_id, vm),"
    "  UNIQUE (pool_id, user_id),"
    "  FOREIGN KEY (pool_id, vm) REFERENCES pool_members(pool_id, vm) ON DELETE CASCADE"
    ");"
    "CREATE INDEX sticky_user ON sticky(user_id);",
    /*
     * 2: instances and where each VM is, as on SQLite. vg_now_ms() is the
     * server's clock (the start of the current statement), so instances on
     * hosts whose clocks differ still agree on how old a heartbeat is.
     */
    "CREATE FUNCTION vg_now_ms() RETURNS BIGINT LANGUAGE sql STABLE"
    "  AS 'SELECT (extract(epoch FROM statement_timestamp()) * 1000)::bigint';"
    "CREATE TABLE instances ("
    "  name TEXT COLLATE \"C\" PRIMARY KEY,"
    "  address TEXT NOT NULL,"
    "  vnc_port INTEGER NOT NULL CHECK (vnc_port BETWEEN 0 AND 65535),"
    "  rdp_port INTEGER NOT NULL CHECK (rdp_port BETWEEN 0 AND 65535),"
    "  web_port INTEGER NOT NULL CHECK (web_port BETWEEN 0 AND 65535),"
    "  started BIGINT NOT NULL,"
    "  heartbeat BIGINT NOT NULL,"
    "  stopped INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1))"
    ");"
    "CREATE TABLE placements ("
    "  vm TEXT COLLATE \"C\" PRIMARY KEY,"
    "  instance TEXT COLLATE \"C\" NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
    "  state TEXT NOT NULL,"
    "  updated BIGINT NOT NULL"
    ");"
    "CREATE INDEX placements_instance ON placements(instance);",
    /* 3: redirection grants. */
    "CREATE TABLE grants ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  user_name TEXT COLLATE \"C\" NOT NULL,"
    "  vm TEXT COLLATE \"C\" NOT NULL,"
    "  instance TEXT COLLATE \"C\" NOT NULL,"
    "  secret_hash TEXT NOT NULL,"
    "  expires BIGINT NOT NULL"
    ");",
    /* 4: the shared audit log, as on SQLite. */
    "CREATE TABLE audit ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  at BIGINT NOT NULL,"
    "  instance TEXT COLLATE \"C\" NOT NULL,"
    "  event TEXT COLLATE \"C\" NOT NULL,"
    "  record TEXT NOT NULL"
    ");"
    "CREATE INDEX audit_at ON audit(at, id);",
    /* 5: each instance's live viewers, as on SQLite. */
    "CREATE TABLE viewers ("
    "  instance TEXT COLLATE \"C\" NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
    "  id TEXT COLLATE \"C\" NOT NULL,"
    "  session TEXT COLLATE \"C\" NOT NULL,"
    "  vm TEXT COLLATE \"C\" NOT NULL,"
    "  user_name TEXT COLLATE \"C\" NOT NULL,"
    "  protocol TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'controller', 'observer')),"
    "  address TEXT NOT NULL,"
    "  since BIGINT NOT NULL,"
    "  PRIMARY KEY (instance, id)"
    ");"
    "CREATE INDEX viewers_user ON viewers(user_name);",
};

#define N_SQLITE (sizeof(vg_store_sqlite_migrations) / sizeof(vg_store_sqlite_migrations[0]))
#define N_PG     (sizeof(vg_store_pg_migrations) / sizeof(vg_store_pg_migrations[0]))
G_STATIC_ASSERT(N_SQLITE == N_PG); /* a migration is added to every back end at once */

const int vg_store_schema_latest = (int)N_SQLITE;
