"""The data resolver: data directory, cache, verified atomic download, clear errors."""
import hashlib
import io
import http.server
import json
import os
import socket
import sys
import threading
import types
import zipfile

import pytest

import model_utils as mu

CONTENT = b"id,text\n1,hello\n" * 1000


class Server(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/good.csv":
            self.send_response(200)
            self.send_header("Content-Length", str(len(CONTENT)))
            self.end_headers()
            self.wfile.write(CONTENT)
        elif self.path == "/truncated.csv":  # promises the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(CONTENT)))
            self.end_headers()
            self.wfile.write(CONTENT[: len(CONTENT) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/gone.csv"


@pytest.fixture
def manifest(tmp_path, monkeypatch):
    """Point the resolver at a manifest, an empty data directory and an empty cache in tmp_path."""
    def make(*urls, sha256=hashlib.sha256(CONTENT).hexdigest()):
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps({"files": {"demo/file.csv": {
            "urls": list(urls), "source": "https://example.org/demo", "sha256": sha256,
            "size": len(CONTENT), "license": "CC0", "citation": "demo"}}}))
        monkeypatch.setattr(mu, "MANIFEST_PATH", path)
        return path
    monkeypatch.setenv(mu.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(mu.DATA_DIR_ENV, str(tmp_path / "data"))
    return make


def put(root, content=CONTENT):
    path = root / "demo" / "file.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_data_directory_comes_first(manifest, tmp_path):
    manifest()
    path = put(tmp_path / "data")
    put(tmp_path / "cache", b"stale copy")
    assert mu.dataset_path("demo/file.csv") == path


def test_a_file_shipped_beside_the_manifest_comes_first_and_is_verified(manifest, tmp_path):
    manifest()
    shipped = put(tmp_path)
    put(tmp_path / "data", b"other copy")
    assert mu.dataset_path("demo/file.csv") == shipped
    shipped.write_bytes(b"edited")
    with pytest.raises(mu.DataError, match="Checksum mismatch for demo/file.csv"):
        mu.dataset_path("demo/file.csv")


def test_checksum_mismatch_names_the_file_and_never_falls_back(manifest, tmp_path, server):
    manifest(f"{server}/good.csv")
    put(tmp_path / "data", b"tampered")
    with pytest.raises(mu.DataError, match=r"Checksum mismatch for demo/file.csv at .*data/demo/file.csv"):
        mu.dataset_path("demo/file.csv")
    assert not (tmp_path / "cache" / "demo" / "file.csv").exists()


def test_cached_copy_is_used_and_verified(manifest, tmp_path):
    manifest()
    path = put(tmp_path / "cache")
    assert mu.dataset_path("demo/file.csv") == path
    path.write_bytes(b"corrupted")
    with pytest.raises(mu.DataError, match="Checksum mismatch for demo/file.csv"):
        mu.dataset_path("demo/file.csv")


def test_download_is_verified_and_lands_in_the_cache(manifest, tmp_path, server, capsys):
    manifest(closed_port_url(), f"{server}/good.csv")
    path = mu.dataset_path("demo/file.csv")
    assert path == tmp_path / "cache" / "demo" / "file.csv"
    assert path.read_bytes() == CONTENT
    assert "Downloading demo/file.csv" in capsys.readouterr().out
    assert os.listdir(path.parent) == ["file.csv"]


def test_download_with_wrong_checksum_leaves_nothing(manifest, tmp_path, server):
    manifest(f"{server}/good.csv", sha256="0" * 64)
    with pytest.raises(mu.DataError, match="Checksum mismatch for demo/file.csv downloaded from"):
        mu.dataset_path("demo/file.csv")
    assert os.listdir(tmp_path / "cache" / "demo") == []


def test_interrupted_download_leaves_no_partial_file(manifest, tmp_path, server):
    manifest(f"{server}/truncated.csv")
    with pytest.raises(mu.DataUnavailableError):
        mu.dataset_path("demo/file.csv")
    assert os.listdir(tmp_path / "cache" / "demo") == []


def test_offline_without_a_copy_says_what_to_download_and_where(manifest, tmp_path):
    manifest(closed_port_url())
    with pytest.raises(mu.DataUnavailableError) as error:
        mu.dataset_path("demo/file.csv")
    message = str(error.value)
    assert "https://example.org/demo" in message
    assert str(tmp_path / "cache" / "demo" / "file.csv") in message
    assert mu.DATA_DIR_ENV in message


def test_unknown_file_lists_the_known_ones(manifest):
    manifest()
    with pytest.raises(KeyError, match="known files: demo/file.csv"):
        mu.dataset_path("demo/other.csv")


def test_manifest_describes_every_file():
    for name, entry in mu.load_manifest().items():
        assert len(entry["sha256"]) == 64 and entry["size"] > 0, name
        assert entry["license"] and entry["citation"] and entry["source"].startswith("https://"), name
        assert all(url.startswith("https://") for url in entry["urls"]), name


offline_data = pytest.mark.skipif(
    not os.environ.get(mu.DATA_DIR_ENV), reason=f"{mu.DATA_DIR_ENV} is not set (CI sets it)"
)


@offline_data
def test_disaster_tweets_load_from_the_data_directory():
    train, test, sample = mu.load_disaster_tweets()
    assert train.shape == (7613, 5) and test.shape == (3263, 4)
    assert list(sample.columns) == ["id", "target"] and len(sample) == len(test)
    assert 0.42 < train.target.mean() < 0.44


@offline_data
def test_imdb_loads_the_labelled_reviews():
    texts, labels = mu.load_imdb("test")
    assert len(texts) == 25000 and labels.mean() == 0.5
    with pytest.raises(ValueError, match="split"):
        mu.load_imdb("unsup")


@pytest.fixture
def tweet_files(tmp_path, monkeypatch):
    """Three small competition files, a manifest with their checksums, and an empty cache."""
    folder = tmp_path / "kaggle"
    folder.mkdir()
    files = {}
    for part in mu.TWEET_PARTS:
        content = f"id,{part}\n1,x\n".encode()
        (folder / f"{part}.csv").write_bytes(content)
        files[f"disaster_tweets/{part}.csv"] = {"urls": [], "source": "https://example.org", "size": len(content),
                                                "sha256": hashlib.sha256(content).hexdigest()}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": files}))
    monkeypatch.setattr(mu, "MANIFEST_PATH", manifest)
    monkeypatch.setenv(mu.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(mu.DATA_DIR_ENV, raising=False)
    return folder


def fake_kagglehub(monkeypatch, download):
    monkeypatch.setattr(mu, "install_lesson_package", lambda name: None)
    monkeypatch.setitem(sys.modules, "kagglehub", types.SimpleNamespace(competition_download=download))


def test_tweets_come_through_kagglehub_into_the_cache(tweet_files, tmp_path, monkeypatch):
    handles = []
    fake_kagglehub(monkeypatch, lambda handle: handles.append(handle) or str(tweet_files))
    train, test, sample = mu.load_disaster_tweets()
    assert handles == ["nlp-getting-started"] and list(train.columns) == ["id", "train"]
    assert (tmp_path / "cache" / "disaster_tweets" / "sample_submission.csv").is_file()
    mu.load_disaster_tweets()  # the second time from the cache
    assert handles == ["nlp-getting-started"]


def test_a_kaggle_file_with_the_wrong_checksum_is_not_cached(tweet_files, tmp_path, monkeypatch):
    (tweet_files / "test.csv").write_bytes(b"id,test\n1,edited\n")
    fake_kagglehub(monkeypatch, lambda handle: str(tweet_files))
    with pytest.raises(mu.DataError, match="Checksum mismatch for disaster_tweets/test.csv"):
        mu.load_disaster_tweets()
    assert not (tmp_path / "cache" / "disaster_tweets" / "test.csv").exists()


def test_without_kaggle_access_the_error_says_what_to_do(tweet_files, monkeypatch):
    def refuse(handle):
        raise PermissionError("403 Forbidden: you must accept this competition's rules")
    fake_kagglehub(monkeypatch, refuse)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with pytest.raises(mu.DataUnavailableError, match=r"(?s)403 Forbidden.*accept the rules at "
                       r"https://www.kaggle.com/competitions/nlp-getting-started/rules.*kaggle.json"):
        mu.load_disaster_tweets()


def test_in_colab_an_upload_is_the_fallback(tweet_files, monkeypatch, capsys):
    def refuse(handle):
        raise PermissionError("not signed in")
    fake_kagglehub(monkeypatch, refuse)
    uploaded = {f"{part}.csv": (tweet_files / f"{part}.csv").read_bytes() for part in mu.TWEET_PARTS}
    colab = types.SimpleNamespace(files=types.SimpleNamespace(upload=lambda: uploaded))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    train, _, _ = mu.load_disaster_tweets()
    assert len(train) == 1 and "upload" in capsys.readouterr().out


def test_in_colab_kaggles_zip_can_be_uploaded_as_downloaded(tweet_files, monkeypatch):
    def refuse(handle):
        raise PermissionError("not signed in")
    fake_kagglehub(monkeypatch, refuse)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in mu.TWEET_PARTS:
            zipped.write(tweet_files / f"{part}.csv", f"{part}.csv")
    colab = types.SimpleNamespace(files=types.SimpleNamespace(upload=lambda: {"nlp-getting-started.zip": archive.getvalue()}))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    train, test, _ = mu.load_disaster_tweets()
    assert len(train) == 1 and list(test.columns) == ["id", "test"]
