/*
 * timefmt.c — text forms of timestamps and doubles: ISO-8601 formatting and parsing in UTC
 * (civil dates from day numbers with the proleptic Gregorian calendar, 400-year eras), and
 * the shortest round-tripping text of a double.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Days since 1970-01-01 of a civil date (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  /* [0, 365], March-based */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

const char *rn__format_timestamp(int64_t ms, char buf[40])
{
    int64_t days = floor_div(ms, 86400000);
    int64_t rem = ms - days * 86400000;
    int64_t y;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    snprintf(buf, 40, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, (int)(rem / 3600000),
             (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
    return buf;
}

static int digits(const char *s, size_t len, size_t *at, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*at >= len || s[*at] < '0' || s[*at] > '9') return -1;
        v = v * 10 + (s[(*at)++] - '0');
    }
    *out = v;
    return 0;
}

int rn__parse_timestamp(const char *s, size_t len, int64_t *out)
{
    if (len == 0) return -1;
    size_t at = 0;
    bool all_digits = true;
    for (size_t i = (s[0] == '-'); i < len; i++) all_digits &= s[i] >= '0' && s[i] <= '9';
    if (all_digits && len > (size_t)(s[0] == '-') && len < 20) {
        char tmp[24];
        memcpy(tmp, s, len);
        tmp[len] = 0;
        *out = strtoll(tmp, NULL, 10);
        return 0;
    }
    int y, mo, d, h, mi, sec = 0, milli = 0;
    if (digits(s, len, &at, 4, &y) || at >= len || s[at++] != '-' || digits(s, len, &at, 2, &mo) ||
        at >= len || s[at++] != '-' || digits(s, len, &at, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return -1;
    /* the time of day is required (as in Flink's TO_TIMESTAMP): a bare date is not a time */
    if (at >= len || (s[at] != 'T' && s[at] != 't' && s[at] != ' ')) return -1;
    {
        at++;
        if (digits(s, len, &at, 2, &h) || at >= len || s[at++] != ':' || digits(s, len, &at, 2, &mi))
            return -1;
        if (at < len && s[at] == ':') {
            at++;
            if (digits(s, len, &at, 2, &sec)) return -1;
            if (at < len && (s[at] == '.' || s[at] == ',')) {
                at++;
                int nd = 0, scale = 100;
                while (at < len && s[at] >= '0' && s[at] <= '9') {
                    if (nd++ < 3) milli += (s[at] - '0') * scale, scale /= 10;
                    at++;
                }
                if (nd == 0) return -1;
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return -1;
    }
    int64_t offset_min = 0;
    if (at < len && (s[at] == 'Z' || s[at] == 'z')) {
        at++;
    } else if (at < len && (s[at] == '+' || s[at] == '-')) {
        int sign = s[at++] == '-' ? -1 : 1, oh, om = 0;
        if (digits(s, len, &at, 2, &oh)) return -1;
        if (at < len && s[at] == ':') at++;
        if (at < len && digits(s, len, &at, 2, &om)) return -1;
        if (oh > 23 || om > 59) return -1;
        offset_min = sign * (oh * 60 + om);
    }
    if (at != len) return -1;
    int64_t days = days_from_civil(y, mo, d);
    *out = ((days * 24 + h) * 60 + mi - offset_min) * 60000 + (int64_t)sec * 1000 + milli;
    return 0;
}

int rn_timestamp_parse(const char *s, size_t len, int64_t *out)
{
    return rn__parse_timestamp(s, len, out) == 0 ? 0 : RN_EINVAL;
}

const char *rn_timestamp_format(int64_t ms, char *buf) { return rn__format_timestamp(ms, buf); }
const char *rn_double_format(double v, char *buf) { return rn__format_double(v, buf); }

const char *rn__format_double(double v, char buf[32])
{
    if (isnan(v)) return strcpy(buf, "nan");
    if (isinf(v)) return strcpy(buf, v < 0 ? "-inf" : "inf");
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}
