// A libFuzzer-compatible driver for builds without libFuzzer (gcc, release,
// debug-asan): runs LLVMFuzzerTestOneInput once per file named on the command
// line (directories: every regular file in them, recursively). ctest uses it
// to replay the seed corpora and every crash reproducer in tests/fuzz/regressions/.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    if (fs::is_directory(arg)) {
      for (const auto& entry : fs::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file() && entry.path().filename().string()[0] != '.' &&
            entry.path().filename() != "README.md") {
          files.push_back(entry.path());
        }
      }
    } else {
      files.push_back(arg);
    }
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
      return 1;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    // A fresh copy, exactly the input's size, so ASan catches reads past it.
    std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
    std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[data.size() ? data.size() : 1]);
    std::copy(data.begin(), data.end(), exact.get());
    LLVMFuzzerTestOneInput(exact.get(), data.size());
  }
  std::printf("replay: %zu inputs, no failure\n", files.size());
  return 0;
}
