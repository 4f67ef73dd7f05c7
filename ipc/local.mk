## ipc/
