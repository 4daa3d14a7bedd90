# Starts a process with N threads that sleep until stdin closes, and prints
# its pid once they all run: the task-view benchmark's subject.
import sys
import threading

n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
threading.stack_size(64 * 1024)
stop = threading.Event()
threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(n)]
for t in threads:
    t.start()
print(__import__("os").getpid(), flush=True)
sys.stdin.read()
stop.set()
