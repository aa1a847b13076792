/* tykevents quota load generator: quota records (or plain events) over loopback UDP, sendmmsg.
 *
 * A copy of loadgen.c with a quota mode, for bench/quota_throughput.py (built there with the
 * system compiler: cc -O2 -o bench/quota_loadgen bench/quota_loadgen.c).
 *
 *   quota_loadgen HOST PORT RATE TOTAL MODE KEYS RENEWS
 *
 * MODE "quota": TOTAL records {"Kind":"quota","Key":...,"Session":{...}} with an embedded Tyk
 *   session (quota_max 1000, trigger limits [90, 80, 50], quota_renews RENEWS) for KEYS keys.
 *   The run is cut into KEYS/64 windows; in each, 64 keys take turns and climb together from
 *   0 to ~100 % usage. So the table sees 64 interleaved keys at a time, every key crosses
 *   each level once (3*KEYS fires per run and period, given TOTAL >= 20*KEYS), and the fires
 *   are spread over the run instead of arriving in three bursts.
 * MODE "event": TOTAL Tyk events of loadgen.c's shape (APIIDs api-0..3), the reference.
 * One record per datagram, at RATE records/s (0 = as fast as possible), paced in 1 ms slices;
 * prints "sent=<records> seconds=<s> eagain=<n>". Loopback only.
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
#define RECMAX 512
#define QMAX 1000
#define ACTIVE 64 /* keys interleaved at any time (quota mode) */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *types[4] = {"AuthFailure", "RatelimitExceeded", "QuotaExceeded", "KeyExpired"};

static int format(char *buf, int quota, long i, long total, long keys, long renews) {
    if (quota) {
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
    return snprintf(buf, RECMAX,
        "{\"Type\":\"%s\",\"Meta\":{\"Message\":\"Key Quota Limit Exceeded\",\"OriginatingRequest\":\"\","
        "\"Path\":\"/api/v1/orders/%ld\",\"Origin\":\"10.0.0.%ld\",\"Key\":\"5e9d9544a1dcd60001d0ed20%08ld\"},"
        "\"TimeStamp\":\"2026-11-24 20:12:27.068982699 +0000 UTC\",\"APIID\":\"api-%ld\",\"OrgID\":\"5e9d9544a1dcd60001d0ed20\"}",
        types[i % 4], i % 997, i % 250, i % keys, i % 4);
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s HOST PORT RATE TOTAL quota|event KEYS RENEWS\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    double rate = atof(argv[3]);
    long total = atol(argv[4]);
    int quota = strcmp(argv[5], "quota") == 0;
    long keys = atol(argv[6]);
    long renews = atol(argv[7]);
    if (!quota && strcmp(argv[5], "event") != 0) {
        fprintf(stderr, "quota_loadgen: MODE must be quota or event\n");
        return 2;
    }
    if (total < 1 || keys < 1) {
        fprintf(stderr, "quota_loadgen: TOTAL and KEYS must be >= 1\n");
        return 2;
    }

    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &a4.sin_addr) != 1 || (ntohl(a4.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "quota_loadgen: HOST must be an IPv4 loopback address\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (connect(fd, (struct sockaddr *)&a4, sizeof a4) != 0) {
        perror("connect");
        return 1;
    }

    static char bufs[BATCH][RECMAX];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int b = 0; b < BATCH; b++) {
        iov[b].iov_base = bufs[b];
        msgs[b].msg_hdr.msg_iov = &iov[b];
        msgs[b].msg_hdr.msg_iovlen = 1;
    }

    long sent = 0, eagain = 0;
    double t0 = now();
    double deadline = t0 + (rate > 0 ? total / rate * 3 : 30) + 5;
    while (sent < total) {
        if (now() > deadline) break;
        long due = total;
        if (rate > 0) {
            due = (long)((now() - t0) * rate) + 1;
            if (due > total) due = total;
            if (due <= sent) {
                struct timespec ts = {0, 200000}; /* 0.2 ms */
                nanosleep(&ts, NULL);
                continue;
            }
        }
        long want = due - sent;
        if (want > BATCH) want = BATCH;
        /* Records sent..sent+want-1 (re-formatted after a partial or refused send). */
        for (long b = 0; b < want; b++) iov[b].iov_len = format(bufs[b], quota, sent + b, total, keys, renews);
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
    printf("sent=%ld seconds=%.4f eagain=%ld\n", sent, secs, eagain);
    return 0;
}
