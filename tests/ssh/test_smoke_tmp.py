from tests.sshd import SshClient

def test_smoke(ssh_client: SshClient) -> None:
    r = ssh_client.tether("status", "-H", "gpu")
    print(r.stdout.decode(), r.stderr.decode())
    assert r.returncode == 0
    r = ssh_client.tether("status", "-H", "gpu-nofwd")
    print(r.stdout.decode(), r.stderr.decode())
    assert r.returncode == 0
