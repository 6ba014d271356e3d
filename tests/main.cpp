// The doctest runner shared by every svilm test executable.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// LeakSanitizer (the sanitizer build of CI): Debian's libx265 1.9 keeps a few kilobytes of its
// encoder's frame filters when the encoder closes. The video tests make HEVC files with it; the
// leak is the library's, so it is suppressed by the library's name, and only that.
extern "C" const char* __lsan_default_suppressions() { return "leak:libx265.so\n"; }
