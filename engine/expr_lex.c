/*
 * expr_lex.c — the expression tokenizer: identifiers, backtick-quoted names, keywords
 * (case-insensitive), numbers, durations, strings and operators, each with its line and column.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

static const struct { const char *word; enum tok kind; } keywords[] = {
    {"and", K_AND}, {"or", K_OR}, {"not", K_NOT}, {"in", K_IN}, {"between", K_BETWEEN},
    {"like", K_LIKE}, {"is", K_IS}, {"null", K_NULL}, {"true", K_TRUE}, {"false", K_FALSE},
    {"case", K_CASE}, {"when", K_WHEN}, {"then", K_THEN}, {"else", K_ELSE}, {"end", K_END},
    {"cast", K_CAST}, {"as", K_AS},
};

const char *rn__tok_name(enum tok k)
{
    static const char *names[] = {
        [T_EOF] = "end of expression", [T_IDENT] = "a name", [T_INT] = "an integer",
        [T_DOUBLE] = "a number", [T_STRING] = "a string", [T_DURATION] = "a duration",
        [T_LPAREN] = "'('", [T_RPAREN] = "')'", [T_COMMA] = "','", [T_PLUS] = "'+'",
        [T_MINUS] = "'-'", [T_STAR] = "'*'", [T_SLASH] = "'/'", [T_PERCENT] = "'%'",
        [T_CONCAT] = "'||'", [T_EQ] = "'='", [T_NE] = "'<>'", [T_LT] = "'<'", [T_LE] = "'<='",
        [T_GT] = "'>'", [T_GE] = "'>='", [K_AND] = "AND", [K_OR] = "OR", [K_NOT] = "NOT",
        [K_IN] = "IN", [K_BETWEEN] = "BETWEEN", [K_LIKE] = "LIKE", [K_IS] = "IS",
        [K_NULL] = "NULL", [K_TRUE] = "TRUE", [K_FALSE] = "FALSE", [K_CASE] = "CASE",
        [K_WHEN] = "WHEN", [K_THEN] = "THEN", [K_ELSE] = "ELSE", [K_END] = "END",
        [K_CAST] = "CAST", [K_AS] = "AS", [T_ERROR] = "an invalid token",
    };
    return names[k];
}

void rn__lex_init(struct lexer *lx, const char *src)
{
    lx->src = lx->p = lx->line_start = src;
    lx->line = 1;
}

static enum tok fail(struct token *t, struct rn_error *err, const char *msg)
{
    rn_error_set(err, RN_EINVAL, t->line, t->col, "%s", msg);
    t->kind = T_ERROR;
    return T_ERROR;
}

static bool is_ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool is_ident(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Reads a quoted run ending in q, where qq stands for q; stores the unescaped text. */
static enum tok quoted(struct lexer *lx, struct token *t, char q, enum tok kind, struct rn_error *err)
{
    const char *p = lx->p + 1;
    size_t n = 0;
    for (const char *s = p;; s++) {
        if (!*s) return fail(t, err, q == '\'' ? "unterminated string literal" : "unterminated quoted name");
        if (*s == q) {
            if (s[1] != q) break;
            s++;
        }
        n++;
    }
    char *text = malloc(n + 1);
    if (!text) return fail(t, err, "out of memory");
    size_t k = 0;
    const char *s = p;
    for (;; s++) {
        if (*s == q) {
            if (s[1] != q) break;
            s++;
        }
        if (*s == '\n') {
            lx->line++;
            lx->line_start = s + 1;
        }
        text[k++] = *s;
    }
    text[k] = 0;
    lx->p = s + 1;
    t->text = text;
    t->len = k;
    t->kind = kind;
    if (kind == T_IDENT && k == 0) {
        free(text);
        t->text = NULL;
        return fail(t, err, "empty quoted name");
    }
    return kind;
}

enum tok rn__lex_next(struct lexer *lx, struct token *t, struct rn_error *err)
{
    memset(t, 0, sizeof *t);
    for (;;) {
        while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' || *lx->p == '\n') {
            if (*lx->p == '\n') {
                lx->line++;
                lx->line_start = lx->p + 1;
            }
            lx->p++;
        }
        if (lx->p[0] == '-' && lx->p[1] == '-') {
            while (*lx->p && *lx->p != '\n') lx->p++;
            continue;
        }
        break;
    }
    const char *s = lx->p;
    t->start = s;
    t->line = lx->line;
    t->col = (int)(s - lx->line_start) + 1;
    char c = *s;
    if (!c) return t->kind = T_EOF;
    if (is_ident_start(c)) {
        while (is_ident(*lx->p)) lx->p++;
        t->len = (size_t)(lx->p - s);
        for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
            if (strlen(keywords[i].word) == t->len && strncasecmp(s, keywords[i].word, t->len) == 0)
                return t->kind = keywords[i].kind;
        return t->kind = T_IDENT;
    }
    if (c == '`') return quoted(lx, t, '`', T_IDENT, err);
    if (c == '\'') return quoted(lx, t, '\'', T_STRING, err);
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[1]))) {
        const char *p = s;
        while (isdigit((unsigned char)*p)) p++;
        bool is_double = false;
        if (*p == '.' && isdigit((unsigned char)p[1])) {
            is_double = true;
            p++;
            while (isdigit((unsigned char)*p)) p++;
        } else if (*p == '.' && !is_ident_start(p[1])) {
            is_double = true;
            p++;
        }
        if ((*p == 'e' || *p == 'E') &&
            (isdigit((unsigned char)p[1]) || ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
            is_double = true;
            p += 2;
            while (isdigit((unsigned char)*p)) p++;
        }
        lx->p = p;
        if (is_double) {
            if (is_ident_start(*p)) return fail(t, err, "a number cannot run into a name");
            t->d = strtod(s, NULL);
            t->len = (size_t)(p - s);
            return t->kind = T_DOUBLE;
        }
        errno = 0;
        unsigned long long v = strtoull(s, NULL, 10);
        if (errno == ERANGE || v > (unsigned long long)INT64_MAX + 1)
            return fail(t, err, "integer literal does not fit in int64");
        /* 2^63 is only valid right after a unary minus; the parser checks the mark. */
        t->int_min = v == (unsigned long long)INT64_MAX + 1;
        t->i = (int64_t)(v & (unsigned long long)INT64_MAX) | (t->int_min ? INT64_MIN : 0);
        if (is_ident_start(*p)) {
            const char *u = p;
            while (is_ident(*lx->p)) lx->p++;
            size_t ul = (size_t)(lx->p - u);
            static const struct { const char *unit; int64_t ms; } units[] = {
                {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
            };
            for (size_t i = 0; i < sizeof units / sizeof units[0] && !t->int_min; i++)
                if (ul == strlen(units[i].unit) && strncmp(u, units[i].unit, ul) == 0) {
                    if (t->i > INT64_MAX / units[i].ms) return fail(t, err, "duration does not fit in int64 milliseconds");
                    t->i *= units[i].ms;
                    t->len = (size_t)(lx->p - s);
                    return t->kind = T_DURATION;
                }
            return fail(t, err, "unknown duration unit (expected ms, s, m, h or d)");
        }
        t->len = (size_t)(p - s);
        return t->kind = T_INT;
    }
    lx->p++;
    t->len = 1;
    switch (c) {
    case '(': return t->kind = T_LPAREN;
    case ')': return t->kind = T_RPAREN;
    case ',': return t->kind = T_COMMA;
    case '+': return t->kind = T_PLUS;
    case '-': return t->kind = T_MINUS;
    case '*': return t->kind = T_STAR;
    case '/': return t->kind = T_SLASH;
    case '%': return t->kind = T_PERCENT;
    case '=':
        if (*lx->p == '=') lx->p++, t->len = 2;
        return t->kind = T_EQ;
    case '!':
        if (*lx->p == '=') {
            lx->p++;
            t->len = 2;
            return t->kind = T_NE;
        }
        return fail(t, err, "unexpected '!' (did you mean '<>' or NOT?)");
    case '<':
        if (*lx->p == '=') { lx->p++; t->len = 2; return t->kind = T_LE; }
        if (*lx->p == '>') { lx->p++; t->len = 2; return t->kind = T_NE; }
        return t->kind = T_LT;
    case '>':
        if (*lx->p == '=') { lx->p++; t->len = 2; return t->kind = T_GE; }
        return t->kind = T_GT;
    case '|':
        if (*lx->p == '|') { lx->p++; t->len = 2; return t->kind = T_CONCAT; }
        return fail(t, err, "unexpected '|' (did you mean '||'?)");
    case '"':
        return fail(t, err, "double quotes are not used: strings take single quotes, names backticks");
    default: {
        char msg[64];
        if (isprint((unsigned char)c)) snprintf(msg, sizeof msg, "unexpected character '%c'", c);
        else snprintf(msg, sizeof msg, "unexpected byte 0x%02x", (unsigned char)c);
        return fail(t, err, msg);
    }
    }
}
