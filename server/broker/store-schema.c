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
};

const int vg_store_schema_latest =
    (int)(sizeof(vg_store_sqlite_migrations) / sizeof(vg_store_sqlite_migrations[0]));
