// The FUSE floor for the bench: a libfuse 3 filesystem in C that serves a
// flat directory's files from memory, read-only, with what som's mount uses
// (auto_cache, attribute/entry timeouts, 2 MiB read-ahead, reads of up to
// 1 MiB once the bench raises the mount's read-ahead). Copying a series out
// of it costs what FUSE itself costs on this kernel — the lookup, open and
// read round trips — with no network, no cache and no JavaScript: no
// filesystem on libfuse 3's high-level API copies the series faster. Built by
// the bench (cc ... $(pkg-config --cflags --libs fuse3)).
//
// Built with -DFLOOR_PASSTHROUGH against libfuse 3.17 (the one som's binding
// uses), it is the floor for a series read from local files instead: each
// open answers with the source file as its backing file (FUSE passthrough,
// Linux 6.9+), as som does for files its disk tier holds, so the kernel
// reads the bytes itself and only opens and releases come to the daemon.
//
//   fuse-floor SOURCE_DIR MOUNTPOINT [fuse options]
#ifdef FLOOR_PASSTHROUGH
#define FUSE_USE_VERSION 317
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>
#else
#define FUSE_USE_VERSION 312
#endif
#include <dirent.h>
#include <errno.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct file {
  char *name;
  char *data;
  off_t size;
};

static struct file *files;
static size_t nfiles;
static const char *source;

static const struct file *find(const char *path) {
  if (path[0] != '/' || strchr(path + 1, '/') != NULL) return NULL;
  for (size_t i = 0; i < nfiles; i++)
    if (strcmp(files[i].name, path + 1) == 0) return &files[i];
  return NULL;
}

static int floor_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    return 0;
  }
  const struct file *f = find(path);
  if (f == NULL) return -ENOENT;
  st->st_mode = S_IFREG | 0444;
  st->st_nlink = 1;
  st->st_size = f->size;
  return 0;
}

static int floor_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                         enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  if (strcmp(path, "/") != 0) return -ENOTDIR;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  for (size_t i = 0; i < nfiles; i++) fill(buf, files[i].name, NULL, 0, 0);
  return 0;
}

#ifdef FLOOR_PASSTHROUGH
// The ioctls of linux/fuse.h (Linux 6.9); Debian 12's kernel headers predate them.
struct backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define BACKING_OPEN _IOW(229, 1, struct backing_map)
#define BACKING_CLOSE _IOW(229, 2, uint32_t)

static int session_fd(void) { return fuse_session_fd(fuse_get_session(fuse_get_context()->fuse)); }
#endif

static int floor_open(const char *path, struct fuse_file_info *fi) {
  if (find(path) == NULL) return -ENOENT;
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
#ifdef FLOOR_PASSTHROUGH
  char file[4096];
  snprintf(file, sizeof file, "%s%s", source, path);
  struct backing_map map = {.fd = open(file, O_RDONLY), .flags = 0, .padding = 0};
  if (map.fd < 0) return -errno;
  int id = ioctl(session_fd(), BACKING_OPEN, &map);
  int err = errno;
  close(map.fd); // the backing id holds the kernel's own reference
  if (id <= 0) return id < 0 ? -err : -EIO;
  fi->backing_id = id;
#endif
  return 0;
}

#ifdef FLOOR_PASSTHROUGH
static int floor_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  uint32_t id = (uint32_t)fi->backing_id;
  if (id > 0) ioctl(session_fd(), BACKING_CLOSE, &id);
  return 0;
}
#endif

static int floor_read(const char *path, char *buf, size_t len, off_t pos, struct fuse_file_info *fi) {
  (void)fi;
  const struct file *f = find(path);
  if (f == NULL) return -ENOENT;
  if (pos >= f->size) return 0;
  if ((off_t)len > f->size - pos) len = (size_t)(f->size - pos);
  memcpy(buf, f->data + pos, len);
  return (int)len;
}

static int load(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    FILE *in = fopen(path, "rb");
    if (in == NULL) return -1;
    files = realloc(files, (nfiles + 1) * sizeof *files);
    struct file *f = &files[nfiles++];
    f->name = strdup(e->d_name);
    f->size = st.st_size;
    f->data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (fread(f->data, 1, (size_t)st.st_size, in) != (size_t)st.st_size) return -1;
    fclose(in);
  }
  closedir(d);
  return 0;
}

// libfuse 3 takes max_readahead from the filesystem, not from -o.
static void *floor_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)cfg;
  conn->max_readahead = 2 * 1024 * 1024;
#ifdef FLOOR_PASSTHROUGH
  if (!fuse_set_feature_flag(conn, FUSE_CAP_PASSTHROUGH)) {
    fprintf(stderr, "fuse-floor: the kernel offers no passthrough\n");
    exit(1);
  }
  conn->max_backing_stack_depth = 1;
#endif
  return NULL;
}

static struct fuse_operations ops = {
    .init = floor_init,
    .getattr = floor_getattr, .readdir = floor_readdir, .open = floor_open, .read = floor_read,
#ifdef FLOOR_PASSTHROUGH
    .release = floor_release,
#endif
};

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SOURCE_DIR MOUNTPOINT [fuse options]\n", argv[0]);
    return 2;
  }
  source = argv[1];
  if (load(argv[1]) != 0) {
    perror(argv[1]);
    return 1;
  }
  // fuse_main sees: program, mountpoint, the caller's options.
  argv[1] = argv[0];
  return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
