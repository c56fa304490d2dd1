// ferry_udpflood: load generator and sink for tun/raw-ceiling.ts (benchmarks only).
//
//   ferry_udpflood flood <dst-ip> <port> <payload-bytes> <seconds>
//       connect()ed UDP socket, sendmmsg() batches of 64 as fast as the kernel takes them;
//       prints "sent <packets> <errors>" at the end.
//   ferry_udpflood sink <bind-ip> <port> <seconds>
//       binds a UDP socket and never reads it (the kernel accepts datagrams and drops them at
//       the full receive buffer, without ICMP); exits after <seconds> or on SIGTERM.
//   ferry_udpflood tunread <tun-name> <seconds>
//       opens (creates) a TUN device and counts packets with a blocking read() loop: the
//       C reference reader. Prints "read <packets> <bytes>".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop = 0;
static void on_signal(int s) { (void)s; stop = 1; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int usage(void) {
  fprintf(stderr,
          "usage: ferry_udpflood flood <dst-ip> <port> <payload-bytes> <seconds>\n"
          "       ferry_udpflood sink <bind-ip> <port> <seconds>\n"
          "       ferry_udpflood tunread <tun-name> <seconds>\n");
  return 2;
}

static int flood(const char* ip, int port, int payload, double secs) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) { perror("socket"); return 1; }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) { fprintf(stderr, "bad ip %s\n", ip); return 2; }
  if (connect(s, (struct sockaddr*)&a, sizeof a) < 0) { perror("connect"); return 1; }
  int sndbuf = 4 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  char* buf = calloc(1, (size_t)payload + 1);
  enum { B = 64 };
  struct mmsghdr m[B];
  struct iovec iov[B];
  for (int i = 0; i < B; i++) {
    iov[i].iov_base = buf;
    iov[i].iov_len = (size_t)payload;
    memset(&m[i], 0, sizeof m[i]);
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned long long sent = 0, errs = 0;
  double end = now_s() + secs;
  unsigned iter = 0;
  while (!stop) {
    int r = sendmmsg(s, m, B, 0);
    if (r > 0) sent += (unsigned)r;
    else if (r < 0 && errno != EINTR) errs++;  // ENOBUFS etc. when the TUN queue is full
    if ((++iter & 63) == 0 && now_s() >= end) break;
  }
  printf("sent %llu %llu\n", sent, errs);
  return 0;
}

static int sink(const char* ip, int port, double secs) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) { perror("socket"); return 1; }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) { fprintf(stderr, "bad ip %s\n", ip); return 2; }
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s, (struct sockaddr*)&a, sizeof a) < 0) { perror("bind"); return 1; }
  printf("ready\n");
  fflush(stdout);
  double end = now_s() + secs;
  while (!stop && now_s() < end) usleep(20000);
  return 0;
}

static int tunread(const char* name, double secs) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) { perror("open /dev/net/tun"); return 1; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); return 1; }
  printf("ready %s\n", ifr.ifr_name);
  fflush(stdout);
  // SIGALRM interrupts the blocking read when the time is up (no SA_RESTART).
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGALRM, &sa, NULL);
  static char buf[65536];
  unsigned long long pkts = 0, bytes = 0;
  double end = now_s() + secs;
  alarm((unsigned)secs + 1);
  while (!stop) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r > 0) { pkts++; bytes += (unsigned long long)r; }
    else if (r < 0 && errno != EINTR) { perror("read"); break; }
    if ((pkts & 1023) == 0 && now_s() >= end) break;
  }
  printf("read %llu %llu\n", pkts, bytes);
  return 0;
}

int main(int argc, char** argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  if (argc >= 6 && strcmp(argv[1], "flood") == 0)
    return flood(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
  if (argc >= 5 && strcmp(argv[1], "sink") == 0) return sink(argv[2], atoi(argv[3]), atof(argv[4]));
  if (argc >= 4 && strcmp(argv[1], "tunread") == 0) return tunread(argv[2], atof(argv[3]));
  return usage();
}
