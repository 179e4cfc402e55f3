/*
 * issue_render: HTML and plain text of a 专报 issue (see issue_render.h).
 *
 * The HTML follows the house style of a printed 专报: the series in large
 * red type, the year and number under it, the issuing body and the date
 * above a red rule, then the title, the editor's note (编者按) and the
 * items.  Fonts are named as a stack of the usual system CJK fonts (仿宋
 * for the text, 小标宋 or a serif for the masthead, 黑体 for item titles),
 * ending in the Noto CJK fonts Debian installs, so the page prints in
 * Chinese type wherever it is opened.
 */
#include "issue_render.h"

#include <string.h>
#include <time.h>

#include "cli_util.h"

static const char *const digits_zh[] = {"", "一", "二", "三", "四", "五", "六", "七", "八", "九"};

void issue_render_ordinal(unsigned n, char *out, size_t len)
{
    if (n == 0 || n > 99) {
        snprintf(out, len, "%u、", n);
        return;
    }
    unsigned tens = n / 10, ones = n % 10;
    snprintf(out, len, "%s%s%s、", tens > 1 ? digits_zh[tens] : "", tens > 0 ? "十" : "",
             digits_zh[ones]);
}

/* The date of ms in China Standard Time as 2026年3月2日. */
static void date_zh(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000) + CLI_TZ_OFFSET_S;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, len, "%d年%d月%d日", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Room for the masthead's number line and date. */
#define MASTHEAD_TEXT_MAX 64

/* The masthead's number line under the series (2026年第3期, or the
 * draft's) and its date (of publication, or 草稿). */
static void masthead_zh(const Minyi__V1__Issue *m, char number[MASTHEAD_TEXT_MAX],
                        char date[MASTHEAD_TEXT_MAX])
{
    if (m->number > 0)
        snprintf(number, MASTHEAD_TEXT_MAX, "%d年第%u期", m->year, m->number);
    else
        snprintf(number, MASTHEAD_TEXT_MAX, "%d年（草稿，未编号）", m->year);
    if (m->published_at_ms > 0)
        date_zh(m->published_at_ms, date, MASTHEAD_TEXT_MAX);
    else
        snprintf(date, MASTHEAD_TEXT_MAX, "草稿");
}

static void put_escaped(FILE *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(p[i], out); break;
        }
    }
}

static void put_html(FILE *out, const ProtobufCBinaryData *b)
{
    put_escaped(out, b->data, b->len);
}

/* Each non-empty line of b as a paragraph of its own. */
static void put_paragraphs(FILE *out, const ProtobufCBinaryData *b)
{
    size_t start = 0;
    for (size_t i = 0; i <= b->len; i++) {
        if (i < b->len && b->data[i] != '\n')
            continue;
        size_t end = i;
        if (end > start && b->data[end - 1] == '\r')
            end--;
        if (end > start) {
            fputs("<p>", out);
            put_escaped(out, b->data + start, end - start);
            fputs("</p>\n", out);
        }
        start = i + 1;
    }
}

static const char html_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"zh-CN\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"generator\" content=\"minyi\">\n";

static const char html_style[] =
    "<style>\n"
    "@page { size: A4; margin: 25mm 26mm 25mm 28mm; }\n"
    "html { background: #fff; }\n"
    "body { margin: 0; color: #000; font-size: 16pt; line-height: 1.75; text-align: justify;\n"
    "  font-family: \"FangSong\", \"STFangsong\", \"仿宋\", \"FangSong_GB2312\",\n"
    "    \"Noto Serif CJK SC\", \"Source Han Serif SC\", \"Songti SC\", \"SimSun\", serif; }\n"
    ".masthead { text-align: center; color: #c00; border-bottom: 3px solid #c00;\n"
    "  padding-bottom: 4mm; margin-bottom: 10mm; }\n"
    ".masthead .series { font-size: 40pt; font-weight: 700; letter-spacing: 0.15em;\n"
    "  line-height: 1.3; font-family: \"FZXiaoBiaoSong-B05S\", \"方正小标宋简体\",\n"
    "    \"Noto Serif CJK SC\", \"Source Han Serif SC\", \"Songti SC\", \"SimSun\", serif; }\n"
    ".masthead .number { color: #000; margin-top: 2mm; }\n"
    ".masthead .meta { display: flex; justify-content: space-between; color: #000;\n"
    "  font-size: 14pt; margin-top: 6mm; }\n"
    "h1 { font-size: 22pt; font-weight: 700; text-align: center; line-height: 1.5;\n"
    "  margin: 0 0 8mm; font-family: \"FZXiaoBiaoSong-B05S\", \"方正小标宋简体\",\n"
    "    \"Noto Serif CJK SC\", \"Source Han Serif SC\", \"SimSun\", serif; }\n"
    ".note { margin: 0 0 8mm; font-family: \"KaiTi\", \"STKaiti\", \"楷体\",\n"
    "  \"Noto Serif CJK SC\", \"Source Han Serif SC\", serif; }\n"
    ".note p, article p { text-indent: 2em; margin: 0; }\n"
    ".note .label { font-weight: 700; }\n"
    "article { margin: 0 0 8mm; }\n"
    "article h2 { font-size: 16pt; font-weight: 700; margin: 0 0 2mm; font-family: \"SimHei\",\n"
    "  \"Heiti SC\", \"黑体\", \"Noto Sans CJK SC\", \"Source Han Sans SC\", sans-serif; }\n"
    "article .source { text-align: right; text-indent: 0; font-size: 14pt; }\n"
    "footer { border-top: 1px solid #000; padding-top: 2mm; font-size: 14pt; }\n"
    "/* On screen, the page's width and margins as printed. */\n"
    "@media screen { body { max-width: 156mm; margin: 20mm auto; } }\n"
    "</style>\n"
    "</head>\n";

bool issue_render_html(FILE *out, const Minyi__V1__Issue *m)
{
    char number[MASTHEAD_TEXT_MAX], date[MASTHEAD_TEXT_MAX], ord[ISSUE_RENDER_ORDINAL_MAX];

    masthead_zh(m, number, date);
    fputs(html_head, out);
    fputs("<title>《", out);
    put_html(out, &m->series);
    fprintf(out, "》%s ", number);
    put_html(out, &m->title);
    fputs("</title>\n", out);
    fputs(html_style, out);
    fputs("<body>\n<header class=\"masthead\">\n<div class=\"series\">", out);
    put_html(out, &m->series);
    fprintf(out, "</div>\n<div class=\"number\">%s</div>\n<div class=\"meta\"><span>", number);
    put_html(out, &m->body_name);
    fprintf(out, "</span><span>%s</span></div>\n</header>\n<main>\n<h1>", date);
    put_html(out, &m->title);
    fputs("</h1>\n", out);
    if (m->editor_note.len > 0) {
        fputs("<section class=\"note\"><p><span class=\"label\">编者按：</span>", out);
        put_html(out, &m->editor_note);
        fputs("</p></section>\n", out);
    }
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__IssueItem *it = m->items[i];
        issue_render_ordinal(it->position, ord, sizeof ord);
        fprintf(out, "<article>\n<h2>%s", ord);
        put_html(out, &it->title);
        fputs("</h2>\n", out);
        put_paragraphs(out, &it->text);
        if (it->source.len > 0) {
            fputs("<p class=\"source\">（来源：", out);
            put_html(out, &it->source);
            fputs("）</p>\n", out);
        }
        fputs("</article>\n", out);
    }
    fprintf(out, "</main>\n<footer>本期共%zu条</footer>\n</body>\n</html>\n", m->n_items);
    return fflush(out) == 0 && !ferror(out);
}

static void put_text(FILE *out, const ProtobufCBinaryData *b)
{
    fwrite(b->data, 1, b->len, out);
}

bool issue_render_text(FILE *out, const Minyi__V1__Issue *m)
{
    char number[MASTHEAD_TEXT_MAX], date[MASTHEAD_TEXT_MAX], ord[ISSUE_RENDER_ORDINAL_MAX];

    masthead_zh(m, number, date);
    put_text(out, &m->series);
    fprintf(out, "\n%s\n", number);
    put_text(out, &m->body_name);
    fprintf(out, "　　%s\n", date);
    fputs("========================================\n\n", out);
    put_text(out, &m->title);
    fputs("\n\n", out);
    if (m->editor_note.len > 0) {
        fputs("编者按：", out);
        put_text(out, &m->editor_note);
        fputs("\n\n", out);
    }
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__IssueItem *it = m->items[i];
        issue_render_ordinal(it->position, ord, sizeof ord);
        fputs(ord, out);
        put_text(out, &it->title);
        fputs("\n", out);
        put_text(out, &it->text);
        fputs("\n", out);
        if (it->source.len > 0) {
            fputs("（来源：", out);
            put_text(out, &it->source);
            fputs("）\n", out);
        }
        fputs("\n", out);
    }
    fprintf(out, "本期共%zu条\n", m->n_items);
    return fflush(out) == 0 && !ferror(out);
}
