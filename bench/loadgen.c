/* tykevents load generator: realistic events over loopback UDP, batched with sendmmsg.
 *
 * A Python sender tops out near 350k datagrams/s per core (CONTRIBUTING.md), too close to
 * the daemon's own rate to measure it; this one is limited by the kernel. Built by
 * bench/udp_throughput.py with the system compiler (cc -O2 -o bench/loadgen bench/loadgen.c).
 *
 *   loadgen HOST PORT RATE TOTAL [EVENTS_PER_DATAGRAM]
 *   loadgen HOST PORT RATE TOTAL quota KEYS RENEWS
 *
 * Sends TOTAL records at RATE records/s (0 = as fast as possible), paced in 1 ms slices, then
 * prints "sent=<records> datagrams=<n> seconds=<s> eagain=<n>". Loopback only: HOST must be
 * 127.0.0.0/8.
 *
 * Event mode (the default): Tyk events, EVENTS_PER_DATAGRAM of them newline-joined per
 * datagram. Quota mode (bench/quota_throughput.py): one quota record per datagram,
 * {"Kind":"quota","Key":...,"Session":{...}} with an embedded Tyk session (quota_max 1000,
 * trigger limits [90, 80, 50], quota_renews RENEWS) for KEYS keys. The run is cut into
 * KEYS/64 windows; in each, 64 keys take turns and climb together from 0 to ~100 % usage, so
 * every key crosses each level once (3*KEYS fires per run and period, given TOTAL >= 20*KEYS)
 * and the fires are spread over the run instead of arriving in three bursts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define NVARIANTS 8
#define RECMAX 512
#define QMAX 1000
#define ACTIVE 64 /* keys interleaved at any time (quota mode) */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *types[NVARIANTS] = {"AuthFailure", "RatelimitExceeded", "QuotaExceeded", "KeyExpired",
                                       "AuthFailure", "RatelimitExceeded", "BreakerTripped", "HostDown"};

/* Quota record i of TOTAL into buf (see the header); returns its length. */
static int quota_record(char *buf, long i, long total, long keys, long renews) {
    long active = keys < ACTIVE ? keys : ACTIVE;
    long windows = keys / active;
    double span = (double)total / windows; /* records per window */
    long w = (long)(i / span);
    if (w >= windows) w = windows - 1;
    long key = w * active + i % active;
    long remaining = QMAX - (long)(QMAX * ((i - w * span) / span));
    return snprintf(buf, RECMAX,
        "{\"Kind\":\"quota\",\"Key\":\"5e9d9544a1dcd60001d0ed20%08ld\",\"Session\":{"
        "\"org_id\":\"5e9d9544a1dcd60001d0ed20\",\"quota_max\":%d,\"quota_remaining\":%ld,"
        "\"quota_renews\":%ld,\"quota_renewal_rate\":3600,\"monitor\":{\"trigger_limits\":[90,80,50]}}}",
        key, QMAX, remaining, renews);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST PORT RATE TOTAL [EVENTS_PER_DATAGRAM]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    double rate = atof(argv[3]);
    long total = atol(argv[4]);
    int quota = argc > 5 && strcmp(argv[5], "quota") == 0;
    long keys = quota && argc > 7 ? atol(argv[6]) : 1;
    long renews = quota && argc > 7 ? atol(argv[7]) : 0;
    if (quota && (argc < 8 || keys < 1)) {
        fprintf(stderr, "usage: %s HOST PORT RATE TOTAL quota KEYS RENEWS\n", argv[0]);
        return 2;
    }
    int per = !quota && argc > 5 ? atoi(argv[5]) : 1;
    if (per < 1 || per > 32) per = 1;

    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &a4.sin_addr) != 1 || (ntohl(a4.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "loadgen: HOST must be an IPv4 loopback address\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (connect(fd, (struct sockaddr *)&a4, sizeof a4) != 0) {
        perror("connect");
        return 1;
    }

    /* Realistic Tyk events, 250-300 bytes each; PER of them newline-joined per datagram. */
    static char bufs[NVARIANTS][32 * 400];
    size_t lens[NVARIANTS];
    for (int v = 0; v < NVARIANTS; v++) {
        size_t off = 0;
        for (int e = 0; e < per; e++) {
            off += snprintf(bufs[v] + off, sizeof bufs[v] - off,
                "%s{\"Type\":\"%s\",\"Meta\":{\"Message\":\"Key Quota Limit Exceeded\",\"OriginatingRequest\":\"\","
                "\"Path\":\"/api/v1/orders/%d\",\"Origin\":\"10.0.%d.%d\",\"Key\":\"5e9d9544a1dcd60001d0ed20a8f3c2b1%04d\"},"
                "\"TimeStamp\":\"2026-11-24 20:12:27.068982699 +0000 UTC\",\"APIID\":\"api-%d\",\"OrgID\":\"5e9d9544a1dcd60001d0ed20\"}",
                e ? "\n" : "", types[v], v * 7 + e, v, e, v * 31 + e, v % 4);
        }
        lens[v] = off;
    }
    static char qbufs[BATCH][RECMAX]; /* quota mode: records formatted per batch */
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i % NVARIANTS];
        iov[i].iov_len = lens[i % NVARIANTS];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    long datagrams_total = (total + per - 1) / per;
    long sent = 0, eagain = 0;
    double t0 = now();
    double dps = rate > 0 ? rate / per : 0; /* datagrams per second */
    /* Bounded in time whatever happens (a receiver that is not there refuses every send). */
    double deadline = t0 + (rate > 0 ? total / rate * 3 : 30) + 5;
    while (sent < datagrams_total) {
        if (now() > deadline) break;
        long due = datagrams_total;
        if (dps > 0) {
            due = (long)((now() - t0) * dps) + 1;
            if (due > datagrams_total) due = datagrams_total;
            if (due <= sent) {
                struct timespec ts = {0, 200000}; /* 0.2 ms */
                nanosleep(&ts, NULL);
                continue;
            }
        }
        long want = due - sent;
        if (want > BATCH) want = BATCH;
        if (quota) /* records sent..sent+want-1, formatted again after a partial send */
            for (long b = 0; b < want; b++) {
                iov[b].iov_base = qbufs[b];
                iov[b].iov_len = quota_record(qbufs[b], sent + b, total, keys, renews);
            }
        int n = sendmmsg(fd, msgs, (unsigned)want, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED) {
                eagain++;
                continue;
            }
            perror("sendmmsg");
            return 1;
        }
        sent += n;
    }
    double secs = now() - t0;
    printf("sent=%ld datagrams=%ld seconds=%.4f eagain=%ld\n", sent * per, sent, secs, eagain);
    return 0;
}
