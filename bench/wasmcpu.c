/* SPDX-License-Identifier: Apache-2.0 */
/* CPU benchmark for zlayer-wasm (bench/wasmcpu.sh): the same C built
 * natively and for wasm32-wasi. A mix of integer hashing (SHA-256 over a
 * buffer), floating point (n-body) and memory-bound work (sorting), each
 * printing a checksum so nothing is optimised away. `wasmcpu SCALE`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* --- SHA-256 ------------------------------------------------------------------ */

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *p) {
	uint32_t w[64], a, b, c, d, e, f, g, hh;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static uint32_t bench_sha(int scale) {
	static uint8_t buf[1 << 16];
	uint32_t h[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (int r = 0; r < 500 * scale; r++)
		for (size_t off = 0; off < sizeof(buf); off += 64)
			sha256_block(h, buf + off);
	return h[0] ^ h[7];
}

/* --- n-body ------------------------------------------------------------------- */

struct body {
	double x, y, z, vx, vy, vz, m;
};

static double bench_nbody(int scale) {
	const double pi = 3.141592653589793, days = 365.24, sm = 4 * pi * pi;
	struct body b[5] = {
		{ 0, 0, 0, 0, 0, 0, sm },
		{ 4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
		  1.66007664274403694e-03 * days, 7.69901118419740425e-03 * days, -6.90460016972063023e-05 * days,
		  9.54791938424326609e-04 * sm },
		{ 8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
		  -2.76742510726862411e-03 * days, 4.99852801234917238e-03 * days, 2.30417297573763929e-05 * days,
		  2.85885980666130812e-04 * sm },
		{ 1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
		  2.96460137564761618e-03 * days, 2.37847173959480950e-03 * days, -2.96589568540237556e-05 * days,
		  4.36624404335156298e-05 * sm },
		{ 1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
		  2.68067772490389322e-03 * days, 1.62824170038242295e-03 * days, -9.51592254519715870e-05 * days,
		  5.15138902046611451e-05 * sm },
	};
	double e = 0;

	for (int step = 0; step < 3000000 * scale; step++)
		for (int i = 0; i < 5; i++)
			for (int j = i + 1; j < 5; j++) {
				double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
				double d2 = dx * dx + dy * dy + dz * dz, mag = 0.01 / (d2 * sqrt(d2));
				b[i].vx -= dx * b[j].m * mag, b[i].vy -= dy * b[j].m * mag,
				        b[i].vz -= dz * b[j].m * mag;
				b[j].vx += dx * b[i].m * mag, b[j].vy += dy * b[i].m * mag,
				        b[j].vz += dz * b[i].m * mag;
			}
	for (int i = 0; i < 5; i++) {
		b[i].x += 0.01 * b[i].vx, b[i].y += 0.01 * b[i].vy, b[i].z += 0.01 * b[i].vz;
		e += b[i].m * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
	}
	return e;
}

/* --- sorting (our own quicksort: libc's qsort differs between glibc and
 * wasi-libc, which would measure the libc, not the runtime) --------------- */

static void sort_u32(uint32_t *v, long lo, long hi) {
	while (hi - lo > 16) {
		uint32_t a = v[lo], b = v[(lo + hi) / 2], c = v[hi], p, t;
		long i = lo, j = hi;

		p = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				t = v[i], v[i] = v[j], v[j] = t;
				i++, j--;
			}
		}
		if (j - lo < hi - i) {
			sort_u32(v, lo, j);
			lo = i;
		} else {
			sort_u32(v, i, hi);
			hi = j;
		}
	}
	for (long i = lo + 1; i <= hi; i++) {
		uint32_t x = v[i];
		long k = i - 1;
		while (k >= lo && v[k] > x) {
			v[k + 1] = v[k];
			k--;
		}
		v[k + 1] = x;
	}
}

static uint32_t bench_sort(int scale) {
	size_t n = 1000000;
	uint32_t *v = malloc(n * sizeof(*v)), seed = 12345, sum = 0;

	for (int r = 0; r < 3 * scale; r++) {
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			v[i] = seed ^ (seed >> 16);
		}
		sort_u32(v, 0, (long)n - 1);
		sum += v[n / 2] ^ v[n / 3];
	}
	free(v);
	return sum;
}

int main(int argc, char **argv) {
	int scale = argc > 1 ? atoi(argv[1]) : 1;
	uint32_t s = bench_sha(scale);
	double e = bench_nbody(scale);
	uint32_t q = bench_sort(scale);

	printf("sha %08x nbody %.9f sort %08x\n", s, e, q);
	return 0;
}
