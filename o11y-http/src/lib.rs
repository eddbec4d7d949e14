//! Tower layers that trace HTTP servers and clients (work in progress).
