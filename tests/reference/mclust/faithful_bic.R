# Reference BIC table from R's mclust on Old Faithful (datasets::faithful, 272 x 2).
#
# Regenerate from the repository root:
#     Rscript tests/reference/mclust/faithful_bic.R
# The CSV is written next to this script (its location is taken from Rscript's
# --file= argument; if that is unavailable, the working directory must be the repo root).
#
# For every (model, G) cell of mclustBIC(faithful, G = 1:9) with default settings, the
# log-likelihood is that of the fit behind the cell: summary.mclustBIC() re-runs EM
# (`me`) from the same hierarchical-clustering start stored in the mclustBIC object.

suppressPackageStartupMessages(library(mclust))

script_dir <- function() {
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(file_arg) == 1) return(dirname(normalizePath(sub("^--file=", "", file_arg))))
  file.path(getwd(), "tests", "reference", "mclust")
}

MODELS <- c("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
            "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")
G_RANGE <- 1:9

bic_table <- function(data) {
  data <- as.matrix(data)
  n <- nrow(data); d <- ncol(data)
  bic <- mclustBIC(data, G = G_RANGE, modelNames = MODELS)
  rows <- list()
  mismatches <- 0
  for (m in MODELS) for (g in G_RANGE) {
    cell <- bic[as.character(g), m]
    df <- nMclustParams(m, d = d, G = g)
    loglik <- NA_real_
    if (!is.na(cell)) {
      fit <- summary(bic, data, G = g, modelNames = m)
      loglik <- fit$loglik
      # Cross-check: an independent Mclust() fit of the same cell gives the same fit.
      direct <- Mclust(data, G = g, modelNames = m, verbose = FALSE)
      if (is.null(direct) || direct$df != df || abs(direct$loglik - loglik) > 1e-8 * abs(loglik)) {
        cat(sprintf("Mclust MISMATCH %s G=%d\n", m, g))
        mismatches <- mismatches + 1
      }
      recomputed <- 2 * loglik - df * log(n)
      if (abs(recomputed - cell) > 1e-6 * max(1, abs(cell)) || abs(fit$bic - cell) > 1e-6 * max(1, abs(cell))) {
        cat(sprintf("BIC MISMATCH %s G=%d: table %.10g, fit %.10g, 2logL-df*log(n) %.10g\n",
                    m, g, cell, fit$bic, recomputed))
        mismatches <- mismatches + 1
      }
    } else {
      cat(sprintf("NA cell: %s G=%d\n", m, g))
    }
    rows[[length(rows) + 1]] <- data.frame(model = m, n_components = g, bic = cell,
                                           log_likelihood = loglik, n_parameters = df)
  }
  cat(sprintf("%d mismatches\n", mismatches))
  list(table = do.call(rbind, rows), bic = bic)
}

write_table <- function(tab, path) {
  fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.10g", x))
  out <- data.frame(model = tab$model, n_components = tab$n_components,
                    bic = fmt(tab$bic), log_likelihood = fmt(tab$log_likelihood),
                    n_parameters = tab$n_parameters)
  write.csv(out, path, row.names = FALSE, quote = FALSE)
  cat("wrote", path, "\n")
}

if (sys.nframe() == 0L) {
  result <- bic_table(datasets::faithful)
  write_table(result$table, file.path(script_dir(), "faithful_bic.csv"))
  print(summary(result$bic))
}
