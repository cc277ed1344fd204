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

/* One column value of a run of rows that SQLite reads without calling into Swift: `type` is 0
   (not known: ask the cursor), SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or
   SQLITE_NULL; `text` points into memory the cursor owns while the run lasts. */
typedef struct strata_value {
    int type;
    int length;
    sqlite3_int64 integer;
    double real;
    const char *text;
} strata_value;

typedef struct strata_vtab_cursor {
    sqlite3_vtab_cursor base;
    void *owner;
    /* A run of `repeat` rows (the current one included) with the same values, as a cursor that
       hands SQLite a group's rows together produces: while `fast` is set, xNext only counts
       `repeat` down (calling the cursor when it reaches the run's last row), xEof is `at_end`,
       and xColumn of a column below `fast_count` whose value type is set gives that value. */
    int fast;
    int at_end;
    int fast_count;
    sqlite3_int64 repeat;
    strata_value *fast_values;
} strata_vtab_cursor;

/* SQLITE_TRANSIENT is a cast of -1 to a function pointer, which Swift cannot import. */
static inline sqlite3_destructor_type strata_sqlite_transient(void) { return SQLITE_TRANSIENT; }

#endif
