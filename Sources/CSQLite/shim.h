#ifndef STRATA_CSQLITE_SHIM_H
#define STRATA_CSQLITE_SHIM_H
#include <sqlite3.h>

/* A virtual table and a cursor with a pointer back to their Swift owner. SQLite allocates
   neither: xCreate/xConnect and xOpen return a pointer to the base struct, which must be the
   first member ("subclassing" as the SQLite virtual table documentation describes). */
typedef struct strata_vtab {
    sqlite3_vtab base;
    void *owner;
} strata_vtab;

typedef struct strata_vtab_cursor {
    sqlite3_vtab_cursor base;
    void *owner;
} strata_vtab_cursor;

/* SQLITE_TRANSIENT is a cast of -1 to a function pointer, which Swift cannot import. */
static inline sqlite3_destructor_type strata_sqlite_transient(void) { return SQLITE_TRANSIENT; }

#endif
