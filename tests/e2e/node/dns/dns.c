/*
 * sg-dns: the real node's stand-in for cluster DNS. A UDP DNS server on
 * port 53 that answers every A query for a name under ZONE with ADDR, and
 * any other query with an empty answer (NOERROR, no records), or NXDOMAIN
 * for names outside ZONE. Enough for a pod to resolve a name through the
 * NetworkPolicy envelope's DNS rule with its own resolver (busybox
 * nslookup); not a DNS implementation.
 *
 *   sg-dns ZONE ADDR        e.g. sg-dns e2e.test 192.0.2.53
 *
 * Built static by node/build.sh and shipped in the busybox test image.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Reads the query name at p (labels, no compression) into out as dotted
 * text; returns the offset after it, or 0 when malformed. */
static size_t qname(const unsigned char *msg, size_t len, size_t p, char *out, size_t cap)
{
	size_t o = 0;

	while (p < len && msg[p]) {
		size_t l = msg[p++];
		if (l > 63 || p + l > len || o + l + 2 > cap)
			return 0;
		if (o)
			out[o++] = '.';
		memcpy(out + o, msg + p, l);
		o += l;
		p += l;
	}
	if (p >= len)
		return 0;
	out[o] = 0;
	return p + 1;
}

static int in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	if (n == z)
		return strcasecmp(name, zone) == 0;
	return n > z && name[n - z - 1] == '.' && strcasecmp(name + n - z, zone) == 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
	struct in_addr addr;
	unsigned char msg[512];
	char name[256];
	int fd;

	if (argc != 3 || inet_pton(AF_INET, argv[2], &addr) != 1) {
		fprintf(stderr, "usage: sg-dns ZONE IPV4-ADDR\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("sg-dns: udp/53");
		return 1;
	}
	fprintf(stderr, "sg-dns: %s -> %s on udp/53\n", argv[1], argv[2]);
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, msg, sizeof(msg), 0, (struct sockaddr *)&from, &fl);
		size_t end, out;
		unsigned qtype;
		int ours;

		/* One question, a query (QR 0, opcode 0). */
		if (n < 12 || (msg[2] & 0xf8) != 0 || msg[4] != 0 || msg[5] != 1)
			continue;
		end = qname(msg, (size_t)n, 12, name, sizeof(name));
		if (!end || end + 4 > (size_t)n)
			continue;
		qtype = (unsigned)msg[end] << 8 | msg[end + 1];
		end += 4;
		ours = in_zone(name, argv[1]);
		/* Header: response, authoritative, recursion desired copied,
		 * NOERROR or NXDOMAIN; the question kept, nothing after it. */
		msg[2] = 0x84 | (msg[2] & 0x01);
		msg[3] = ours ? 0 : 3;
		msg[6] = msg[7] = msg[8] = msg[9] = msg[10] = msg[11] = 0;
		out = end;
		if (ours && qtype == 1 && out + 16 <= sizeof(msg)) {
			static const unsigned char rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4};
			msg[7] = 1;
			memcpy(msg + out, rr, sizeof(rr));
			memcpy(msg + out + sizeof(rr), &addr, 4);
			out += sizeof(rr) + 4;
		}
		sendto(fd, msg, out, 0, (struct sockaddr *)&from, fl);
	}
}
