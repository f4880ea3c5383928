# Reference model-based hierarchical clustering (mclust::hc) on faithful and iris[, 1:4].
#
# Regenerate from the repository root:
#     Rscript tests/reference/mclust/hc_partitions.R
# Writes next to this script (located from Rscript's --file= argument; otherwise the
# working directory must be the repo root):
#   hc_partitions.csv          data,hc_model,n_components,row,class   hclass(hc_tree, 1:9)
#   hc_merges.csv              data,hc_model,step,first,second,criterion  raw merge pairs
#   hc_svd_data_faithful.csv   row,z1..zd: the transformed data hc() clusters for use = "SVD"
#                              (17 significant digits, exact doubles)
#   hc_svd_data_iris.csv
#   hc_svd_info.csv            data,quantity,index,value  singular values / vectors, VVV/VII alpha
#
# hc_model "VVV" with use = "SVD" is what mclustBIC()/Mclust() use by default
# (mclust.options("hcModelName") = "VVV", mclust.options("hcUse") = "SVD"). Also given:
# hc_model "EII", "VII", "EEE", all with use = "SVD".
#
# What hc(X, modelName, use = "SVD") does (mclust 6.0.0, R function `hc`):
#   S <- scale(X, center = TRUE, scale = TRUE)          # sd with divisor n - 1
#   SVD <- svd(S, nu = 0); p <- min(dim(S))
#   Z <- S %*% SVD$v %*% diag(1 / sqrt(SVD$d), p, p)     # note: 1/sqrt(d), not 1/d
#   hc<modelName>(data = Z)                              # partition = NULL -> 1:n
# (hc()'s default `partition = dupPartition(data)` is never forwarded -- match.call() only
# carries supplied arguments -- so every row starts as its own cluster, duplicates too.)
# hcVVV/hcVII also use alpha = max(traceW(Z / sqrt(n * p)), .Machine$double.eps) (their
# argument alpha = 1 times that) and hcVVV beta = 1; alpha is written to hc_svd_info.csv.

# The shared definitions (mclust, script_dir(), fmt(), write_out(), MODELS, DATA) live in common.R.
here <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
source(file.path(if (length(here) == 1) dirname(normalizePath(sub("^--file=", "", here)))
                 else file.path(getwd(), "tests", "reference", "mclust"), "common.R"))

HC_MODELS <- c("VVV", "EII", "VII", "EEE")
G_RANGE <- 1:9
stopifnot(mclust.options("hcModelName") == "VVV", mclust.options("hcUse") == "SVD")

# Re-run the Fortran of hcVVV / hcEII / hcVII exactly as the R wrappers call it, to get the
# per-merge criterion vector the wrappers drop (the Fortran's `d` output, first m entries).
# The merge pairs from this call are checked to equal the hc() object's.
merge_criterion <- function(Z, model, tree) {
  n <- nrow(Z); p <- ncol(Z); l <- n; m <- l - 1
  ll <- (l * (l - 1)) / 2
  alpha <- max(mclust:::traceW(Z / sqrt(n * p)), .Machine$double.eps)
  storage.mode(Z) <- "double"
  temp <- switch(model,
    VVV = .Fortran("hcvvv", cbind(Z, 0), as.integer(n), as.integer(p), as.integer(1:n),
                   as.integer(l), as.integer(m), as.double(alpha), as.double(1), double(p),
                   double(p * p), double(p * p), double(p * p), as.integer(max(n, ll + 1, 3 * m)),
                   double(max(n, ll + 1, 3 * m)), PACKAGE = "mclust")[c(1, 14)],
    EII = .Fortran("hceii", Z, as.integer(n), as.integer(p), as.integer(1:n), as.integer(l),
                   as.integer(m), double(p), as.integer(max(ll, 3 * m)), double(max(ll, 3 * m)),
                   PACKAGE = "mclust")[c(1, 9)],
    VII = .Fortran("hcvii", Z, as.integer(n), as.integer(p), as.integer(1:n), as.integer(l),
                   as.integer(m), as.double(alpha), double(p), as.integer(max(n, ll, 3 * m)),
                   double(max(n, ll, 3 * m)), PACKAGE = "mclust")[c(1, 10)],
    NULL)
  if (is.null(temp)) return(list(criterion = rep(NA_real_, ncol(tree)), alpha = NA_real_))
  pairs <- t(temp[[1]][1:m, 1:2, drop = FALSE])
  if (!all(pairs == unclass(tree)[1:2, ])) stop("direct Fortran call disagrees with hc() for ", model)
  list(criterion = temp[[2]][1:m], alpha = if (model %in% c("VVV", "VII")) alpha else NA_real_)
}

part_rows <- list(); merge_rows <- list(); info_rows <- list()
for (name in names(DATA)) {
  X <- DATA[[name]]
  n <- nrow(X); d <- ncol(X)
  # The transformed data, computed as hc() does, and checked against attr(hc, "data").
  S <- scale(X, center = TRUE, scale = TRUE)
  SVD <- svd(S, nu = 0)
  Z <- S %*% SVD$v %*% diag(1 / sqrt(SVD$d), d, d)
  for (model in HC_MODELS) {
    tree <- hc(X, modelName = model, use = "SVD")
    if (max(abs(attr(tree, "data") - Z)) > 1e-12) stop("SVD transform mismatch for ", name)
    if (model == "VVV") {
      default_tree <- hc(X, modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))
      stopifnot(identical(unclass(default_tree)[1:2, ], unclass(tree)[1:2, ]))
      out <- data.frame(row = seq_len(n))
      # 17 significant digits (round-trips a double), so a re-implementation can start
      # from exactly the matrix mclust clustered; everything else uses 10.
      for (j in seq_len(d)) out[[paste0("z", j)]] <- sprintf("%.17g", Z[, j])
      path <- file.path(script_dir(), sprintf("hc_svd_data_%s.csv", name))
      write.csv(out, path, row.names = FALSE, quote = FALSE)
      cat("wrote", path, "\n")
    }
    stopifnot(ncol(tree) == n - 1, all(attr(tree, "initialPartition") == seq_len(n)))
    crit <- merge_criterion(attr(tree, "data"), model, tree)
    merge_rows[[length(merge_rows) + 1]] <- data.frame(
      data = name, hc_model = model, step = seq_len(ncol(tree)),
      first = tree[1, ], second = tree[2, ], criterion = fmt(crit$criterion))
    if (!is.na(crit$alpha))
      info_rows[[length(info_rows) + 1]] <- data.frame(
        data = name, quantity = paste0("alpha_", model), index = 1, value = fmt(crit$alpha))
    cl <- hclass(tree, G_RANGE)
    for (g in G_RANGE) {
      part_rows[[length(part_rows) + 1]] <- data.frame(
        data = name, hc_model = model, n_components = g, row = seq_len(n),
        class = as.integer(cl[, as.character(g)]))
      stopifnot(length(unique(cl[, as.character(g)])) == g)
    }
  }
  info_rows[[length(info_rows) + 1]] <- data.frame(
    data = name, quantity = "singular_value", index = seq_along(SVD$d), value = fmt(SVD$d))
  # right singular vectors, row-major: index = (i - 1) * d + j is V[i, j] (LAPACK signs)
  info_rows[[length(info_rows) + 1]] <- data.frame(
    data = name, quantity = "right_singular_vectors", index = seq_len(d * d),
    value = fmt(as.vector(t(SVD$v))))
  info_rows[[length(info_rows) + 1]] <- data.frame(
    data = name, quantity = "column_mean", index = seq_len(d), value = fmt(colMeans(X)))
  info_rows[[length(info_rows) + 1]] <- data.frame(
    data = name, quantity = "column_sd", index = seq_len(d), value = fmt(apply(X, 2, sd)))
}

write_out(part_rows, "hc_partitions.csv")
write_out(merge_rows, "hc_merges.csv")
write_out(info_rows, "hc_svd_info.csv")
