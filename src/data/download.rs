//! `pegasus data get`: the official archives, fetched with a progress bar, resumed after an
//! interruption, checked against their published MD5 sums, and unpacked.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::error::{Error, Result};

/// One file to fetch: where from and the MD5 its publisher lists.
#[derive(Clone, Debug)]
pub struct Remote {
    pub url: String,
    pub md5: String,
}

impl Remote {
    fn new(url: &str, md5: &str) -> Remote {
        Remote {
            url: url.into(),
            md5: md5.into(),
        }
    }

    pub fn file_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or("download")
    }
}

/// The files of a named set and whether they are tar.gz archives to unpack.
pub fn remotes(name: &str) -> Result<(Vec<Remote>, bool)> {
    const MNIST: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";
    const FASHION: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
    let set = |base: &str, sums: [&str; 4]| {
        [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
        .iter()
        .zip(sums)
        .map(|(f, s)| Remote::new(&format!("{base}{f}"), s))
        .collect()
    };
    Ok(match name {
        "mnist" => (
            set(
                MNIST,
                [
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ],
            ),
            false,
        ),
        "fashion-mnist" => (
            set(
                FASHION,
                [
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ],
            ),
            false,
        ),
        "cifar10" => (
            vec![Remote::new(
                "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                "c32a1d4ab5d03f1284b67883e8d87530",
            )],
            true,
        ),
        "cifar100" => (
            vec![Remote::new(
                "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                "03b5dce01913d631647c71ecec9e9cb8",
            )],
            true,
        ),
        "stl10" => (
            vec![Remote::new(
                "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
                "91f7769df0f17e558f3565bffb0c7dfb",
            )],
            true,
        ),
        other => {
            return Err(Error::Invalid(format!(
                "unknown set `{other}`: pegasus can fetch mnist, fashion-mnist, cifar10, cifar100 and stl10"
            )));
        }
    })
}

fn md5_of(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Downloads `remote` into `dir` and returns its path. A complete file with the right MD5
/// is kept; a partial `.part` file is resumed where the server allows byte ranges; a file
/// whose MD5 is wrong is deleted and reported.
pub fn fetch(remote: &Remote, dir: &Path, show_progress: bool) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, format!("cannot create: {e}")))?;
    let dest = dir.join(remote.file_name());
    if dest.is_file() && md5_of(&dest)? == remote.md5 {
        return Ok(dest);
    }
    let part = dir.join(format!("{}.part", remote.file_name()));
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut request = ureq::get(&remote.url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let net = |e: ureq::Error| {
        Error::file(
            &dest,
            format!(
                "cannot download {}: {e}; run the command again to resume",
                remote.url
            ),
        )
    };
    let response = request.call().map_err(net)?;
    let resumed = response.status().as_u16() == 206;
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let start = if resumed { have } else { 0 };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(&part)
        .map_err(|e| Error::file(&part, format!("cannot write: {e}")))?;
    let bar = indicatif::ProgressBar::new(length.map_or(0, |l| l + start));
    if !show_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    bar.set_message(remote.file_name().to_string());
    bar.set_position(start);
    let mut reader = response.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                bar.abandon();
                return Err(Error::file(
                    &dest,
                    format!(
                        "download of {} broke off after {} bytes ({e}); run the command again to resume",
                        remote.url,
                        start + got
                    ),
                ));
            }
        };
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| Error::file(&part, format!("cannot write: {e}")))?;
        got += n as u64;
        bar.set_position(start + got);
    }
    bar.finish_and_clear();
    drop(out);
    if let Some(l) = length
        && got < l
    {
        return Err(Error::file(
            &dest,
            format!(
                "download of {} stopped at {} of {} bytes; run the command again to resume",
                remote.url,
                start + got,
                start + l
            ),
        ));
    }
    let sum = md5_of(&part)?;
    if sum != remote.md5 {
        let _ = std::fs::remove_file(&part);
        return Err(Error::file(
            &dest,
            format!(
                "MD5 {sum} differs from the published {}: the download is damaged (deleted); run the command again to fetch it anew",
                remote.md5
            ),
        ));
    }
    std::fs::rename(&part, &dest)
        .map_err(|e| Error::file(&dest, format!("cannot move the download into place: {e}")))?;
    Ok(dest)
}

/// Unpacks a .tar.gz into `dir` (entries cannot escape it).
pub fn unpack(archive: &Path, dir: &Path) -> Result<()> {
    let file = std::fs::File::open(archive)
        .map_err(|e| Error::file(archive, format!("cannot read: {e}")))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let entries = tar
        .entries()
        .map_err(|e| Error::file(archive, format!("not a tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::file(archive, format!("damaged archive: {e}")))?;
        entry.unpack_in(dir).map_err(|e| {
            Error::file(
                archive,
                format!("cannot unpack into {}: {e}", dir.display()),
            )
        })?;
    }
    Ok(())
}

/// Fetches and unpacks the named set into `dir/<name>`; returns that folder.
pub fn get(name: &str, dir: &Path, show_progress: bool) -> Result<PathBuf> {
    let (files, archives) = remotes(name)?;
    let target = dir.join(name);
    for remote in &files {
        let path = fetch(remote, &target, show_progress)?;
        if archives {
            unpack(&path, &target)?;
        }
    }
    Ok(target)
}
