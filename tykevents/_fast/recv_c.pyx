# cython: language_level=3
"""Batched datagram receive with recvmmsg(2): the compiled twin of recv_py.py (same API).

One system call reads up to max_batch datagrams into preallocated buffers; only the bytes
objects handed back to Python are allocated per datagram.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdlib cimport calloc, free, malloc


cdef extern from "<sys/socket.h>" nogil:
    struct iovec_t "iovec":
        void *iov_base
        size_t iov_len

    struct msghdr:
        void *msg_name
        unsigned int msg_namelen
        iovec_t *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags

    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len

    int recvmmsg(int fd, mmsghdr *msgvec, unsigned int vlen, int flags, void *timeout)
    int MSG_DONTWAIT
    int MSG_TRUNC


cdef class BatchReceiver:
    cdef int fd
    cdef readonly int max_batch
    cdef readonly Py_ssize_t bufsize
    cdef public Py_ssize_t truncated
    cdef public Py_ssize_t errors
    cdef char *buffers
    cdef iovec_t *iov
    cdef mmsghdr *msgs

    def __cinit__(self, int fd, int max_batch=64, Py_ssize_t bufsize=65536):
        if max_batch < 1 or bufsize < 1:
            raise ValueError("max_batch and bufsize must be positive")
        self.fd = fd
        self.max_batch = max_batch
        self.bufsize = bufsize
        self.buffers = <char *>malloc(<size_t>max_batch * <size_t>bufsize)
        self.iov = <iovec_t *>calloc(max_batch, sizeof(iovec_t))
        self.msgs = <mmsghdr *>calloc(max_batch, sizeof(mmsghdr))
        if self.buffers == NULL or self.iov == NULL or self.msgs == NULL:
            raise MemoryError()
        cdef int i
        for i in range(max_batch):
            self.iov[i].iov_base = self.buffers + <size_t>i * <size_t>bufsize
            self.iov[i].iov_len = <size_t>bufsize
            self.msgs[i].msg_hdr.msg_iov = &self.iov[i]
            self.msgs[i].msg_hdr.msg_iovlen = 1

    def __dealloc__(self):
        free(self.buffers)
        free(self.iov)
        free(self.msgs)

    def recv_batch(self):
        cdef int n, i
        cdef list out = []
        for i in range(self.max_batch):  # msg_flags are outputs; clear what a call may not set
            self.msgs[i].msg_hdr.msg_flags = 0
        with nogil:
            n = recvmmsg(self.fd, self.msgs, <unsigned int>self.max_batch, MSG_DONTWAIT, NULL)
        if n < 0:
            if errno != EAGAIN and errno != EINTR:  # EWOULDBLOCK == EAGAIN on Linux
                self.errors += 1
            return out
        for i in range(n):
            if self.msgs[i].msg_hdr.msg_flags & MSG_TRUNC:
                self.truncated += 1
                continue
            out.append(PyBytes_FromStringAndSize(<char *>self.iov[i].iov_base, self.msgs[i].msg_len))
        return out

    def close(self):
        pass  # the fd belongs to the caller
