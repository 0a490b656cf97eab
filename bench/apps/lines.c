/* The log producer of the log-capture benchmark: the same binary writes to
 * Rack, to PM2 and to a plain pipe.
 *
 *   lines N STAMPFILE [--hold]
 *
 * Writes the wall-clock start time (seconds since the epoch) to STAMPFILE,
 * then N numbered lines of 72 bytes to stdout ("L000000001 ..."), then
 * exits, or with --hold waits to be stopped (so that a supervisor does not
 * restart it and write the lines again). Output goes through stdio with a 64 KiB buffer, as a typical
 * program writing to a pipe would. The harness times until line N is on
 * disk, from the start time in STAMPFILE (so how each supervisor starts the
 * program does not count). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
  int hold = argc == 4 && strcmp(argv[3], "--hold") == 0;
  if (argc != 3 && !hold) {
    fprintf(stderr, "usage: lines N STAMPFILE [--hold]\n");
    return 2;
  }
  long n = atol(argv[1]);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  FILE* stamp = fopen(argv[2], "w");
  if (!stamp) {
    perror(argv[2]);
    return 1;
  }
  fprintf(stamp, "%ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
  fclose(stamp);

  static char buf[1 << 16];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  for (long i = 1; i <= n; i++)
    printf("L%09ld the quick brown fox jumps over the lazy dog 0123456789abcdef\n", i);
  if (fflush(stdout) != 0) return 1;
  while (hold) pause();
  return 0;
}
