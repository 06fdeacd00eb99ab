/*
 * concierge-walbuf: an SQLite VFS that writes a connection's write-ahead log in large pieces.
 *
 * SQLite writes each frame of the log with two system calls (its 24-byte header, then the page),
 * so a commit of 200 pages makes 400 writes. Where a system call is dear (virtual machines), those
 * writes were most of the cost of a commit. This VFS gathers the writes that continue one another
 * in a buffer and hands them to the file in one write when anything else happens to the file:
 * a sync, a read, a write elsewhere, a truncation, a size query, a close.
 *
 * Loading it (db.loadExtension) makes it the default VFS of the process, because this build of
 * SQLite does not take URI file names, the other way to choose a VFS. Every file and every call
 * passes straight to the previous default VFS, except the log of a connection that asks for the
 * buffer, with `PRAGMA concierge_wal_buffer = on`, and has set `PRAGMA synchronous = FULL` (or
 * EXTRA). Such a connection syncs the log before a commit becomes visible to other connections
 * (sqlite3WalFrames syncs before it writes the wal-index header), and a sync here writes the
 * buffer first. With synchronous=NORMAL, frames could be published before they reach the file, so
 * the buffer stays off. The pragma answers 1 when the buffer is on, 0 when it is not.
 *
 * Built by scripts/build-native.mjs at install.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#include <string.h>

#define WALBUF_NAME "concierge-walbuf"
/* The unix VFS writes at most 128 KiB - 1 bytes per call (seekAndWriteFd masks the length with
   0x1ffff), so the buffer holds no more: 31 frames of 4 KiB pages. */
#define WALBUF_CAPACITY 0x1ffff

typedef struct WbFile WbFile;
struct WbFile {
  sqlite3_file base;   /* pMethods: &wb_methods */
  sqlite3_file *real;  /* the previous default VFS's file, allocated right after this struct */
  /* A database file: what its connection asked for. */
  int wants_buffer;    /* PRAGMA concierge_wal_buffer = on */
  int sync_full;       /* PRAGMA synchronous = FULL or EXTRA */
  /* A write-ahead log: its database file (which outlives it), and the pending bytes, to be
     written at [start, start + len). */
  WbFile *db;
  char *buf;
  int len;
  sqlite3_int64 start;
};

static sqlite3_vfs *real_vfs = 0;

static int wb_flush(WbFile *f) {
  if (f->len == 0) return SQLITE_OK;
  int n = f->len;
  f->len = 0;
  return f->real->pMethods->xWrite(f->real, f->buf, n, f->start);
}

static int wb_close(sqlite3_file *p) {
  WbFile *f = (WbFile *)p;
  int rc = wb_flush(f);
  int rc2 = f->real->pMethods->xClose(f->real);
  sqlite3_free(f->buf);
  f->buf = 0;
  return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *p, void *out, int amt, sqlite3_int64 ofst) {
  WbFile *f = (WbFile *)p;
  int rc = wb_flush(f);
  if (rc != SQLITE_OK) return rc;
  return f->real->pMethods->xRead(f->real, out, amt, ofst);
}

static int buffering(const WbFile *f) { return f->db != 0 && f->db->wants_buffer && f->db->sync_full; }

static int wb_write(sqlite3_file *p, const void *data, int amt, sqlite3_int64 ofst) {
  WbFile *f = (WbFile *)p;
  if (!buffering(f)) {
    int rc = wb_flush(f);
    if (rc != SQLITE_OK) return rc;
    return f->real->pMethods->xWrite(f->real, data, amt, ofst);
  }
  if (f->len > 0 && ofst == f->start + f->len && f->len + amt <= WALBUF_CAPACITY) {
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += amt;
    return SQLITE_OK;
  }
  int rc = wb_flush(f);
  if (rc != SQLITE_OK) return rc;
  if (amt > WALBUF_CAPACITY) return f->real->pMethods->xWrite(f->real, data, amt, ofst);
  if (f->buf == 0) {
    f->buf = sqlite3_malloc(WALBUF_CAPACITY);
    if (f->buf == 0) return f->real->pMethods->xWrite(f->real, data, amt, ofst);
  }
  memcpy(f->buf, data, (size_t)amt);
  f->start = ofst;
  f->len = amt;
  return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *p, sqlite3_int64 size) {
  WbFile *f = (WbFile *)p;
  int rc = wb_flush(f);
  if (rc != SQLITE_OK) return rc;
  return f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *p, int flags) {
  WbFile *f = (WbFile *)p;
  int rc = wb_flush(f);
  if (rc != SQLITE_OK) return rc;
  return f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *p, sqlite3_int64 *size) {
  WbFile *f = (WbFile *)p;
  int rc = wb_flush(f);
  if (rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileSize(f->real, size);
}

/* Everything below passes straight through. */
static int wb_lock(sqlite3_file *p, int l) { return ((WbFile *)p)->real->pMethods->xLock(((WbFile *)p)->real, l); }
static int wb_unlock(sqlite3_file *p, int l) { return ((WbFile *)p)->real->pMethods->xUnlock(((WbFile *)p)->real, l); }
static int wb_check_reserved(sqlite3_file *p, int *out) {
  return ((WbFile *)p)->real->pMethods->xCheckReservedLock(((WbFile *)p)->real, out);
}
static int one_of(const char *v, const char *a, const char *b) {
  return v != 0 && (sqlite3_stricmp(v, a) == 0 || sqlite3_stricmp(v, b) == 0);
}

static int wb_file_control(sqlite3_file *p, int op, void *arg) {
  WbFile *f = (WbFile *)p;
  if (op == SQLITE_FCNTL_PRAGMA) {
    /* Every PRAGMA of the connection passes here first: [1] its name, [2] its value or NULL. */
    char **a = (char **)arg;
    if (sqlite3_stricmp(a[1], "concierge_wal_buffer") == 0) {
      if (a[2] != 0) f->wants_buffer = one_of(a[2], "on", "1") || one_of(a[2], "true", "yes");
      a[0] = sqlite3_mprintf("%d", f->wants_buffer && f->sync_full);
      return SQLITE_OK;
    }
    if (sqlite3_stricmp(a[1], "synchronous") == 0 && a[2] != 0) {
      f->sync_full = one_of(a[2], "full", "2") || one_of(a[2], "extra", "3");
    }
  }
  return f->real->pMethods->xFileControl(f->real, op, arg);
}
static int wb_sector_size(sqlite3_file *p) { return ((WbFile *)p)->real->pMethods->xSectorSize(((WbFile *)p)->real); }
static int wb_device_characteristics(sqlite3_file *p) {
  return ((WbFile *)p)->real->pMethods->xDeviceCharacteristics(((WbFile *)p)->real);
}
static int wb_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **pp) {
  return ((WbFile *)p)->real->pMethods->xShmMap(((WbFile *)p)->real, pg, pgsz, extend, pp);
}
static int wb_shm_lock(sqlite3_file *p, int offset, int n, int flags) {
  return ((WbFile *)p)->real->pMethods->xShmLock(((WbFile *)p)->real, offset, n, flags);
}
static void wb_shm_barrier(sqlite3_file *p) { ((WbFile *)p)->real->pMethods->xShmBarrier(((WbFile *)p)->real); }
static int wb_shm_unmap(sqlite3_file *p, int del) {
  return ((WbFile *)p)->real->pMethods->xShmUnmap(((WbFile *)p)->real, del);
}
static int wb_fetch(sqlite3_file *p, sqlite3_int64 ofst, int amt, void **pp) {
  WbFile *f = (WbFile *)p;
  int rc = wb_flush(f);
  if (rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFetch(f->real, ofst, amt, pp);
}
static int wb_unfetch(sqlite3_file *p, sqlite3_int64 ofst, void *pg) {
  return ((WbFile *)p)->real->pMethods->xUnfetch(((WbFile *)p)->real, ofst, pg);
}

static const sqlite3_io_methods wb_methods = {
    3,
    wb_close,
    wb_read,
    wb_write,
    wb_truncate,
    wb_sync,
    wb_file_size,
    wb_lock,
    wb_unlock,
    wb_check_reserved,
    wb_file_control,
    wb_sector_size,
    wb_device_characteristics,
    wb_shm_map,
    wb_shm_lock,
    wb_shm_barrier,
    wb_shm_unmap,
    wb_fetch,
    wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *p, int flags, int *out_flags) {
  (void)vfs;
  WbFile *f = (WbFile *)p;
  memset(f, 0, sizeof(WbFile));
  f->real = (sqlite3_file *)&f[1];
  int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
  if (f->real->pMethods == 0) {
    /* Nothing to close: SQLite must not call our methods either. */
    p->pMethods = 0;
    return rc;
  }
  /* The real file's methods must offer what ours forward (the unix VFS's do: version 3). */
  if (f->real->pMethods->iVersion < 3) {
    f->real->pMethods->xClose(f->real);
    p->pMethods = 0;
    return SQLITE_CANTOPEN;
  }
  if (flags & SQLITE_OPEN_WAL) {
    sqlite3_file *db = sqlite3_database_file_object(name);
    if (db != 0 && db->pMethods == &wb_methods) f->db = (WbFile *)db;
  }
  p->pMethods = &wb_methods;
  return rc;
}

static int wb_delete(sqlite3_vfs *v, const char *name, int sync) { (void)v; return real_vfs->xDelete(real_vfs, name, sync); }
static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  (void)v;
  return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out) {
  (void)v;
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}
static void *wb_dlopen(sqlite3_vfs *v, const char *path) { (void)v; return real_vfs->xDlOpen(real_vfs, path); }
static void wb_dlerror(sqlite3_vfs *v, int n, char *msg) { (void)v; real_vfs->xDlError(real_vfs, n, msg); }
static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) {
  (void)v;
  return real_vfs->xDlSym(real_vfs, h, sym);
}
static void wb_dlclose(sqlite3_vfs *v, void *h) { (void)v; real_vfs->xDlClose(real_vfs, h); }
static int wb_randomness(sqlite3_vfs *v, int n, char *out) { (void)v; return real_vfs->xRandomness(real_vfs, n, out); }
static int wb_sleep(sqlite3_vfs *v, int us) { (void)v; return real_vfs->xSleep(real_vfs, us); }
static int wb_current_time(sqlite3_vfs *v, double *out) { (void)v; return real_vfs->xCurrentTime(real_vfs, out); }
static int wb_last_error(sqlite3_vfs *v, int n, char *out) { (void)v; return real_vfs->xGetLastError(real_vfs, n, out); }
static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out) {
  (void)v;
  return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static sqlite3_vfs wb_vfs = {
    2,     /* iVersion: the system-call overrides of version 3 are left to the default VFS */
    0,     /* szOsFile: set at registration */
    0,     /* mxPathname */
    0,     /* pNext */
    WALBUF_NAME,
    0,     /* pAppData */
    wb_open,
    wb_delete,
    wb_access,
    wb_full_pathname,
    wb_dlopen,
    wb_dlerror,
    wb_dlsym,
    wb_dlclose,
    wb_randomness,
    wb_sleep,
    wb_current_time,
    wb_last_error,
    wb_current_time64,
    0,
    0,
    0,
};

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_walbuf_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  (void)db;
  (void)err;
  SQLITE_EXTENSION_INIT2(api);
  if (sqlite3_vfs_find(WALBUF_NAME) != 0) return SQLITE_OK_LOAD_PERMANENTLY;
  real_vfs = sqlite3_vfs_find(0);
  if (real_vfs == 0) return SQLITE_ERROR;
  wb_vfs.szOsFile = (int)sizeof(WbFile) + real_vfs->szOsFile;
  wb_vfs.mxPathname = real_vfs->mxPathname;
  int rc = sqlite3_vfs_register(&wb_vfs, 1);
  return rc == SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}
