"""What tests share besides the fakes: the app in process, real server processes, clients,
databases and files. Test modules import from here (or `tests.fakes`), never from each other."""
