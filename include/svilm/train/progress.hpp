// svilm/train/progress.hpp: one progress line for long work: done / total, rate, ETA and a
// caller's text. On a terminal the line redraws in place; in a log file (not a TTY) a line is
// written at most every `interval` seconds and at the end, so logs stay readable. A line left
// unfinished (the work stopped early) is ended when the ProgressLine goes, so an error message
// printed next starts on a line of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace svilm::train {

inline std::string format_duration(double seconds) {
    if (!(seconds >= 0) || seconds > 1e7) return "--";
    const auto s = std::int64_t(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
    else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else std::snprintf(buf, sizeof buf, "%llds", (long long)s);
    return buf;
}

class ProgressLine {
public:
    explicit ProgressLine(std::FILE* out = stderr, double interval = 5.0)
        : out_(out), tty_(out && isatty(fileno(out))), interval_(interval), start_(clock::now()), last_(start_) {}
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;
    ~ProgressLine() {
        if (open_) std::fputc('\n', out_);
    }

    // done of total; rate_items / elapsed is shown as `rate_unit`/s.
    void update(std::int64_t done, std::int64_t total, double rate_items, const char* rate_unit, const std::string& text) {
        if (!out_) return;
        const auto now = clock::now();
        const double elapsed = seconds(start_, now);
        const bool last = done >= total;
        if (!tty_ && !last && seconds(last_, now) < interval_) return;
        last_ = now;
        const double eta = done > 0 ? elapsed * double(total - done) / double(done) : -1;
        std::fprintf(out_, "%s%lld/%lld  %s  %.1f %s/s  elapsed %s  ETA %s%s", tty_ ? "\r\033[K" : "", (long long)done,
                     (long long)total, text.c_str(), elapsed > 0 ? rate_items / elapsed : 0.0, rate_unit,
                     format_duration(elapsed).c_str(), format_duration(eta).c_str(), tty_ && !last ? "" : "\n");
        open_ = tty_ && !last;
        std::fflush(out_);
    }
    double elapsed() const { return seconds(start_, clock::now()); }

private:
    using clock = std::chrono::steady_clock;
    static double seconds(clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
    std::FILE* out_;
    bool tty_;
    double interval_;
    clock::time_point start_, last_;
    bool open_ = false;  // a terminal line drawn without its newline
};

}  // namespace svilm::train
