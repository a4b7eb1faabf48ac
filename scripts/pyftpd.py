"""A second kind of FTP server for the tests: pyftpdlib, anonymous with write access to
ROOT/pm (uploads, mkdir, rename, delete), passive ports on 127.0.0.1, GMT times in
listings (pyftpdlib's default), MLSD and SIZE/MDTM supported.

Usage: python3 scripts/pyftpd.py PORT ROOT
"""

import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main() -> None:
    port, root = int(sys.argv[1]), sys.argv[2]
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root, perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = authorizer
    handler.passive_ports = range(30100, 30200)
    handler.masquerade_address = "127.0.0.1"
    server = FTPServer(("127.0.0.1", port), handler)
    server.max_cons = 200
    server.serve_forever()


if __name__ == "__main__":
    main()
