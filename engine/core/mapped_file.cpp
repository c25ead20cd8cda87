#include "engine/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/core/error.h"

namespace focalscope {

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  auto fail_closing = [&](const std::string& what) {
    const int e = errno;
    ::close(fd);
    fail(path, what + (e ? std::string(": ") + std::strerror(e) : std::string()));
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_closing("cannot stat");
  if (!S_ISREG(st.st_mode)) {
    errno = 0;
    fail_closing("not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) fail_closing("cannot mmap");
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace focalscope
