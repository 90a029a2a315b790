/*
 * wordcount: a task in C, as a WASI command. Reads the input JSON on stdin and writes
 * {"bytes":N,"words":N,"lines":N} on stdout (counts over the input text).
 *
 * The input may also carry "mode": "fail" exits 3 with {"error","cause"} on stdout (the
 * host reports that ASL error); "passwd" tries to open /etc/passwd; "flood" writes 100 MiB
 * to stdout; "spin" never ends; "crash" traps. The sandbox suite uses the last four.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static int has_mode(const char *input, const char *mode) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"mode\":\"%s\"", mode);
    return strstr(input, pattern) != NULL;
}

int main(void) {
    size_t len;
    char *input = read_all(stdin, &len);
    if (!input) {
        printf("{\"error\":\"OutOfMemory\",\"cause\":\"reading the input\"}\n");
        return 1;
    }
    if (has_mode(input, "fail")) {
        fprintf(stderr, "wordcount: failing as asked\n");
        printf("{\"error\":\"WordCount.Failed\",\"cause\":\"the input asked to fail\"}\n");
        return 3;
    }
    if (has_mode(input, "passwd")) {
        FILE *f = fopen("/etc/passwd", "r");
        printf("{\"opened\":%s,\"errno\":%d}\n", f ? "true" : "false", f ? 0 : errno);
        return 0;
    }
    if (has_mode(input, "flood")) {
        static char chunk[1 << 16];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 1600; i++) /* 1600 * 64 KiB = 100 MiB */
            if (fwrite(chunk, 1, sizeof chunk, stdout) != sizeof chunk)
                return 4;
        return 0;
    }
    if (has_mode(input, "spin")) {
        volatile unsigned long n = 0;
        for (;;)
            n++;
    }
    if (has_mode(input, "crash"))
        __builtin_trap();

    size_t words = 0, lines = 0;
    int in_word = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)input[i];
        if (c == '\n')
            lines++;
        if (isspace(c)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    printf("{\"bytes\":%zu,\"words\":%zu,\"lines\":%zu}\n", len, words, lines);
    free(input);
    return 0;
}
